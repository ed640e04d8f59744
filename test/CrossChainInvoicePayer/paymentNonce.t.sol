// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CrossChainInvoicePayer} from "../../contracts/crosschain/CrossChainInvoicePayer.sol";
import {ICrossChainInvoice} from "../../contracts/interfaces/ICrossChainInvoice.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {IRouterClient} from "@chainlink/contracts-ccip/contracts/interfaces/IRouterClient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Test} from "forge-std/Test.sol";

/// @notice `paymentNonce` against the vector the Rust side checks (`crates/x402/tests/it/crosschain.rs`,
/// `the_payment_nonce_is_the_contracts`): the agent signs the nonce the contract recomputes, and it binds the
/// lane, the gas limit and every field of the payment.
contract PaymentNonceTest is Test {
    uint64 internal constant SELECTOR = 16_015_286_601_757_825_753;
    address internal constant RECEIVER = 0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9;
    uint256 internal constant GAS_LIMIT = 500_000;
    bytes32 internal constant VECTOR = 0xebdbcf29ace00d4ae072a92926d40d4618e6b8541fcc3e2e3ea84bcfffaec6b4;

    CrossChainInvoicePayer internal payer = new CrossChainInvoicePayer(IRouterClient(address(1)), IERC20(address(2)));

    function _vectorPayment() internal pure returns (ICrossChainInvoice.CrossChainPayment memory) {
        bytes memory signature = new bytes(65);
        for (uint256 i = 0; i < 65; ++i) {
            signature[i] = 0xab;
        }
        return ICrossChainInvoice.CrossChainPayment({
            invoice: IInvoiceRegistry.Invoice({
                issuer: 0x1111111111111111111111111111111111111111,
                payee: 0x90F79bf6EB2c4f870365E785982E1f101E93b906,
                token: 0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0,
                amount: 2_500_000,
                deadline: 1_750_000_600,
                resource: keccak256("https://b.example/report"),
                network: "eip155:1337",
                salt: bytes32(uint256(7))
            }),
            issuerSignature: signature,
            payer: 0x2222222222222222222222222222222222222222,
            refundTo: 0x3333333333333333333333333333333333333333
        });
    }

    function test_paymentNonce_isTheRustVector() public view {
        assertEq(payer.paymentNonce(SELECTOR, RECEIVER, _vectorPayment(), GAS_LIMIT), VECTOR);
    }

    function test_paymentNonce_bindsTheLaneAndTheGasLimit() public view {
        ICrossChainInvoice.CrossChainPayment memory p = _vectorPayment();
        assertNotEq(payer.paymentNonce(SELECTOR + 1, RECEIVER, p, GAS_LIMIT), VECTOR, "destination");
        assertNotEq(payer.paymentNonce(SELECTOR, address(1), p, GAS_LIMIT), VECTOR, "receiver");
        assertNotEq(payer.paymentNonce(SELECTOR, RECEIVER, p, GAS_LIMIT - 1), VECTOR, "gas limit");
    }

    function testFuzz_paymentNonce_bindsThePayment(address payer_, address refundTo, uint256 amount) public view {
        ICrossChainInvoice.CrossChainPayment memory p = _vectorPayment();
        vm.assume(payer_ != p.payer && refundTo != p.refundTo && amount != p.invoice.amount);
        bytes32 base = payer.paymentNonce(SELECTOR, RECEIVER, p, GAS_LIMIT);
        p.payer = payer_;
        assertNotEq(payer.paymentNonce(SELECTOR, RECEIVER, p, GAS_LIMIT), base, "payer");
        p = _vectorPayment();
        p.refundTo = refundTo;
        assertNotEq(payer.paymentNonce(SELECTOR, RECEIVER, p, GAS_LIMIT), base, "refund address");
        p = _vectorPayment();
        p.invoice.amount = amount;
        assertNotEq(payer.paymentNonce(SELECTOR, RECEIVER, p, GAS_LIMIT), base, "invoice");
    }
}
