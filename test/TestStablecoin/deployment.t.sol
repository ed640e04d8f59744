// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {TestStablecoin} from "../../contracts/tokens/TestStablecoin.sol";
import {TestStablecoinBase} from "../base/TestStablecoinBase.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

contract DeploymentTest is TestStablecoinBase {
    function test_metadata_LooksLikeUsdc() public view {
        assertEq(token.name(), NAME);
        assertEq(token.symbol(), SYMBOL);
        assertEq(token.decimals(), 6);
        assertEq(token.version(), VERSION);
        assertEq(token.DOMAIN_SEPARATOR(), _domainSeparator());
        (, string memory name, string memory version, uint256 chainId, address verifyingContract,,) =
            token.eip712Domain();
        assertEq(name, NAME);
        assertEq(version, VERSION);
        assertEq(chainId, block.chainid);
        assertEq(verifyingContract, address(token));
    }

    function test_constructor_DomainIsConfigurable() public {
        TestStablecoin other = new TestStablecoin("Quittance Dollar", "QUSD", "1", owner);
        assertEq(other.version(), "1");
        assertTrue(other.DOMAIN_SEPARATOR() != token.DOMAIN_SEPARATOR());
    }

    function test_mint_OwnerMints() public {
        vm.prank(owner);
        token.mint(payee, AMOUNT);
        assertEq(token.balanceOf(payee), AMOUNT);
        assertEq(token.totalSupply(), INITIAL_BALANCE + AMOUNT);
    }

    function test_mint_RevertWhen_CallerIsNotOwner() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, relayer));
        vm.prank(relayer);
        token.mint(relayer, AMOUNT);
    }
}
