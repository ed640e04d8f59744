// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ICrossChainInvoice} from "../../contracts/interfaces/ICrossChainInvoice.sol";
import {ICrossChainInvoiceReceiver} from "../../contracts/interfaces/ICrossChainInvoiceReceiver.sol";
import {CrossChainBase} from "../base/CrossChainBase.sol";

/// @notice `settle`: internal to the receiver (its failure reverts the settlement alone).
contract SettleTest is CrossChainBase {
    function test_settle_RevertWhen_NotTheReceiverItself() public {
        ICrossChainInvoice.CrossChainPayment memory p = _payment();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ICrossChainInvoiceReceiver.OnlySelf.selector, stranger));
        receiver.settle(p, address(b.token), AMOUNT);
    }
}
