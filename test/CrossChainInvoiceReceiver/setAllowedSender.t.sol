// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ICrossChainInvoiceReceiver} from "../../contracts/interfaces/ICrossChainInvoiceReceiver.sol";
import {CrossChainBase} from "../base/CrossChainBase.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @notice `setAllowedSender`: the owner's allow-list; disallowing an allowed sender retires it.
contract SetAllowedSenderTest is CrossChainBase {
    function test_setAllowedSender_RevertWhen_NotTheOwner() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        receiver.setAllowedSender(A, stranger, true);
    }

    function test_setAllowedSender_allowsAndEmits() public {
        vm.expectEmit(true, true, false, true, address(receiver));
        emit ICrossChainInvoiceReceiver.SenderAllowed(A, stranger, true);
        vm.prank(owner);
        receiver.setAllowedSender(A, stranger, true);
        assertTrue(receiver.allowedSender(A, stranger));
        assertFalse(receiver.retiredSender(A, stranger));
    }

    function test_setAllowedSender_disallowingAnAllowedSender_retiresIt() public {
        vm.prank(owner);
        receiver.setAllowedSender(A, address(sender), false);
        assertFalse(receiver.allowedSender(A, address(sender)));
        assertTrue(receiver.retiredSender(A, address(sender)));
        vm.prank(owner);
        receiver.setAllowedSender(A, address(sender), false);
        assertTrue(receiver.retiredSender(A, address(sender)), "still retired");
        vm.prank(owner);
        receiver.setAllowedSender(A, address(sender), true);
        assertFalse(receiver.retiredSender(A, address(sender)), "allowed again");
    }

    function test_setAllowedSender_disallowingAnUnknownSender_doesNotRetireIt() public {
        vm.prank(owner);
        receiver.setAllowedSender(A, stranger, false);
        assertFalse(receiver.retiredSender(A, stranger));
    }
}
