// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CrossChainBase} from "../base/CrossChainBase.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @notice Ownership of the allow-list moves in two steps: a mistyped new owner cannot take it.
contract OwnershipTest is CrossChainBase {
    function test_transferOwnership_takesEffectOnAcceptance() public {
        address next = makeAddr("next");
        vm.prank(owner);
        receiver.transferOwnership(next);
        assertEq(receiver.owner(), owner, "still the owner until accepted");
        assertEq(receiver.pendingOwner(), next);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        receiver.acceptOwnership();
        vm.prank(next);
        receiver.acceptOwnership();
        assertEq(receiver.owner(), next);
        vm.prank(next);
        receiver.setAllowedSender(A, stranger, true);
        assertTrue(receiver.allowedSender(A, stranger));
    }
}
