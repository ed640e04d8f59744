// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {PaymentEscrow} from "../../contracts/escrow/PaymentEscrow.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {PaymentEscrowBase} from "../base/PaymentEscrowBase.sol";

contract ViewsTest is PaymentEscrowBase {
    function test_PAYMENT_TERMS_TYPEHASH_MatchesTypeString() public view {
        assertEq(escrow.PAYMENT_TERMS_TYPEHASH(), TERMS_TYPEHASH);
    }

    function test_eip712Domain_NamesTheEscrow() public view {
        (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        ) = escrow.eip712Domain();
        assertEq(fields, hex"0f");
        assertEq(name, ESCROW_NAME);
        assertEq(version, DOMAIN_VERSION);
        assertEq(chainId, block.chainid);
        assertEq(verifyingContract, address(escrow));
        assertEq(salt, bytes32(0));
        assertEq(extensions.length, 0);
    }

    function test_registry_IsTheConstructorArgument() public {
        assertEq(address(escrow.registry()), address(registry));
        PaymentEscrow bare = new PaymentEscrow(IInvoiceRegistry(address(0)));
        assertEq(address(bare.registry()), address(0));
    }

    function test_paymentId_IsTheEip712DigestOfTheTerms() public view {
        assertEq(escrow.paymentId(_terms()), _paymentId(_terms()));
        assertEq(escrow.paymentId(_termsWithFeeReceiver()), _paymentId(_termsWithFeeReceiver()));
    }

    function test_paymentId_ChangesWithEveryField() public view {
        IPaymentEscrow.PaymentTerms memory base = _terms();
        bytes32 baseId = escrow.paymentId(base);
        for (uint256 field; field < 11; ++field) {
            IPaymentEscrow.PaymentTerms memory changed = _terms();
            if (field == 0) changed.operator = stranger;
            else if (field == 1) changed.payer = stranger;
            else if (field == 2) changed.payee = stranger;
            else if (field == 3) changed.token = stranger;
            else if (field == 4) changed.maxAmount += 1;
            else if (field == 5) changed.preApprovalExpiry -= 1;
            else if (field == 6) changed.authorizationExpiry += 1;
            else if (field == 7) changed.refundExpiry += 1;
            else if (field == 8) changed.maxFeeBps += 1;
            else if (field == 9) changed.feeReceiver = stranger;
            else changed.salt = keccak256("another salt");
            bytes32 changedId = escrow.paymentId(changed);
            assertTrue(changedId != baseId, "field not hashed");
            assertEq(changedId, _paymentId(changed));
        }
    }

    function test_paymentId_BoundToEscrowAndChain() public {
        PaymentEscrow other = new PaymentEscrow(registry);
        assertTrue(other.paymentId(_terms()) != escrow.paymentId(_terms()));

        bytes32 before = escrow.paymentId(_terms());
        vm.chainId(block.chainid + 1);
        bytes32 forked = escrow.paymentId(_terms());
        assertTrue(forked != before);
        assertEq(forked, _paymentId(_terms()));
    }

    function testFuzz_paymentId_IsTheEip712DigestOfTheTerms(IPaymentEscrow.PaymentTerms memory terms) public view {
        assertEq(escrow.paymentId(terms), _paymentId(terms));
    }

    function test_authorizationNonce_IsTheIdThenAHashOfIdAndIndex() public view {
        bytes32 id = _paymentId(_terms());
        assertEq(escrow.authorizationNonce(id, 0), id);
        assertEq(escrow.authorizationNonce(id, 1), keccak256(abi.encode(id, uint256(1))));
        assertEq(escrow.authorizationNonce(id, 254), keccak256(abi.encode(id, uint256(254))));
    }

    function testFuzz_authorizationNonce(bytes32 id, uint256 index) public view {
        bytes32 expected = index == 0 ? id : keccak256(abi.encode(id, index));
        assertEq(escrow.authorizationNonce(id, index), expected);
    }

    function test_paymentState_ZeroForUnknownPayment() public view {
        _assertState(_paymentId(_terms()), 0, 0, 0, false);
        _assertState(bytes32(0), 0, 0, 0, false);
    }

    function test_paymentState_FollowsTheLifecycle() public {
        IPaymentEscrow.PaymentTerms memory terms = _terms();
        bytes32 id = _authorize(terms, AMOUNT);
        _assertState(id, AMOUNT, 0, 1, false);
        _authorize(terms, 2e6);
        _assertState(id, AMOUNT + 2e6, 0, 2, false);
        _capture(terms, 5e6, 0, address(0));
        _assertState(id, AMOUNT - 3e6, 5e6, 2, false);
        vm.prank(operator);
        escrow.void(terms);
        _assertState(id, 0, 5e6, 2, true);
    }

    function test_owed_ZeroByDefault() public view {
        assertEq(escrow.owed(address(usdc), payee), 0);
        assertEq(escrow.owed(address(0), address(0)), 0);
    }
}
