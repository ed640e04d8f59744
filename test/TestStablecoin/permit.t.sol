// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ITestStablecoin} from "../../contracts/interfaces/ITestStablecoin.sol";
import {TestStablecoinBase} from "../base/TestStablecoinBase.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";

contract PermitTest is TestStablecoinBase {
    function _permitDigest(address holder, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 typeHash =
            keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
        return _digest(keccak256(abi.encode(typeHash, holder, spender, value, nonce, deadline)));
    }

    function test_permit_SetsAllowanceAndUsesNonce() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _permitDigest(payer, relayer, AMOUNT, 0, deadline));

        token.permit(payer, relayer, AMOUNT, deadline, v, r, s);

        assertEq(token.allowance(payer, relayer), AMOUNT);
        assertEq(token.nonces(payer), 1);
    }

    function test_permit_AcceptsBytesSignatureAndContractWallet() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(payer);
        uint256 deadline = block.timestamp;
        bytes memory signature = _signPacked(payerKey, _permitDigest(address(wallet), relayer, AMOUNT, 0, deadline));

        token.permit(address(wallet), relayer, AMOUNT, deadline, signature);

        assertEq(token.allowance(address(wallet), relayer), AMOUNT);
    }

    function test_permit_RevertWhen_Expired() public {
        uint256 deadline = block.timestamp - 1;
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _permitDigest(payer, relayer, AMOUNT, 0, deadline));

        vm.expectRevert(abi.encodeWithSelector(ITestStablecoin.PermitExpired.selector, deadline, block.timestamp));
        token.permit(payer, relayer, AMOUNT, deadline, v, r, s);
    }

    function test_permit_RevertWhen_Replayed() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _sign(payerKey, _permitDigest(payer, relayer, AMOUNT, 0, deadline));
        token.permit(payer, relayer, AMOUNT, deadline, v, r, s);

        vm.expectRevert(abi.encodeWithSelector(ITestStablecoin.InvalidPermitSignature.selector, payer));
        token.permit(payer, relayer, AMOUNT, deadline, v, r, s);
    }

    function test_permit_RevertWhen_WrongSigner() public {
        (, uint256 strangerKey) = makeAddrAndKey("stranger");
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _sign(strangerKey, _permitDigest(payer, relayer, AMOUNT, 0, deadline));

        vm.expectRevert(abi.encodeWithSelector(ITestStablecoin.InvalidPermitSignature.selector, payer));
        token.permit(payer, relayer, AMOUNT, deadline, v, r, s);
        assertEq(token.allowance(payer, relayer), 0);
    }
}
