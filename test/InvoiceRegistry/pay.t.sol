// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {InvoiceRegistryBase} from "../base/InvoiceRegistryBase.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

contract PayTest is InvoiceRegistryBase {
    function setUp() public override {
        super.setUp();
        vm.prank(payer);
        token.approve(address(registry), type(uint256).max);
    }

    function _pay(IInvoiceRegistry.Invoice memory invoice, bytes memory issuerSignature) internal returns (bytes32) {
        vm.prank(payer);
        return registry.pay(invoice, issuerSignature);
    }

    /// @dev Expects `revertData` from the payer paying `invoice`, then checks that nothing moved.
    function _expectPayRevert(
        IInvoiceRegistry.Invoice memory invoice,
        bytes memory issuerSignature,
        bytes memory revertData
    ) internal {
        vm.expectRevert(revertData);
        _pay(invoice, issuerSignature);
        _assertNothingMoved(_invoiceId(invoice));
    }

    // ---------------------------------------------------------------------------------------------------
    // Happy paths
    // ---------------------------------------------------------------------------------------------------

    function test_pay_PaysPayeeInSameTransaction() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 expectedId = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectEmit(address(registry));
        emit IInvoiceRegistry.InvoicePaid(
            expectedId, payer, payee, address(token), AMOUNT, IInvoiceRegistry.Path.Allowance, payer
        );
        vm.expectEmit(address(token));
        emit IERC20.Transfer(payer, payee, AMOUNT);
        bytes32 id = _pay(invoice, issuerSignature);

        assertEq(id, expectedId, "returned id");
        assertEq(registry.invoiceId(invoice), expectedId, "invoiceId view");
        assertEq(token.balanceOf(payee), AMOUNT, "payee credited");
        assertEq(token.balanceOf(payer), INITIAL_BALANCE - AMOUNT, "payer debited");
        assertEq(token.balanceOf(address(registry)), 0, "registry holds nothing");
        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
    }

    function test_pay_SpendsExactlyTheAmountOfAllowance() public {
        vm.prank(payer);
        token.approve(address(registry), AMOUNT + 3);
        IInvoiceRegistry.Invoice memory invoice = _invoice();

        _pay(invoice, _signInvoice(invoice));

        assertEq(token.allowance(payer, address(registry)), 3);
    }

    function test_pay_PaysWithExactAllowance() public {
        vm.prank(payer);
        token.approve(address(registry), AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice();

        bytes32 id = _pay(invoice, _signInvoice(invoice));

        assertEq(token.allowance(payer, address(registry)), 0);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
    }

    function test_pay_PaysAtDeadline() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.warp(invoice.deadline);

        bytes32 id = _pay(invoice, issuerSignature);

        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
    }

    function test_pay_AcceptsContractWalletIssuer() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(issuer);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.issuer = address(wallet);

        bytes32 id = _pay(invoice, _signInvoice(invoice));

        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
    }

    function test_pay_DistinctSaltsMakeDistinctInvoices() public {
        IInvoiceRegistry.Invoice memory first = _invoice();
        IInvoiceRegistry.Invoice memory second = _invoice();
        second.salt = keccak256("invoice-salt-2");

        bytes32 firstId = _pay(first, _signInvoice(first));
        bytes32 secondId = _pay(second, _signInvoice(second));

        assertTrue(firstId != secondId);
        assertEq(token.balanceOf(payee), 2 * AMOUNT);
        _assertPaid(firstId, payer, IInvoiceRegistry.Path.Allowance);
        _assertPaid(secondId, payer, IInvoiceRegistry.Path.Allowance);
    }

    // ---------------------------------------------------------------------------------------------------
    // Invalid invoices
    // ---------------------------------------------------------------------------------------------------

    function test_pay_RevertWhen_AmountIsZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.amount = 0;
        _expectPayRevert(invoice, _signInvoice(invoice), abi.encodeWithSelector(IInvoiceRegistry.ZeroAmount.selector));
    }

    function test_pay_RevertWhen_PayeeIsZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.payee = address(0);
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, address(0), address(token))
        );
    }

    function test_pay_RevertWhen_PayeeIsRegistry() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.payee = address(registry);
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, address(registry), address(token))
        );
    }

    function test_pay_RevertWhen_TokenIsZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.token = address(0);
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, payee, address(0))
        );
    }

    function test_pay_RevertWhen_TokenHasNoCode() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.token = stranger;
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, payee, stranger)
        );
    }

    function test_pay_RevertWhen_PastDeadline() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.warp(invoice.deadline + 1);

        _expectPayRevert(
            invoice,
            issuerSignature,
            abi.encodeWithSelector(IInvoiceRegistry.InvoiceExpired.selector, invoice.deadline, invoice.deadline + 1)
        );
    }

    function test_pay_RevertWhen_NetworkIsAnotherChain() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.network = "eip155:1";
        _expectPayRevert(
            invoice, _signInvoice(invoice), abi.encodeWithSelector(IInvoiceRegistry.WrongNetwork.selector, "eip155:1")
        );
    }

    function test_pay_RevertWhen_ChainIdChanged() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.chainId(1);

        _expectPayRevert(
            invoice, issuerSignature, abi.encodeWithSelector(IInvoiceRegistry.WrongNetwork.selector, "eip155:31337")
        );
    }

    // ---------------------------------------------------------------------------------------------------
    // Paid and cancelled invoices
    // ---------------------------------------------------------------------------------------------------

    function test_pay_RevertWhen_PaidTwiceBySamePayer() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes32 id = _pay(invoice, issuerSignature);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        _pay(invoice, issuerSignature);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        assertEq(token.balanceOf(payee), AMOUNT);
    }

    function test_pay_RevertWhen_AlreadyPaidByAnotherPayer() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes32 id = _pay(invoice, issuerSignature);
        _mint(stranger, AMOUNT);
        vm.startPrank(stranger);
        token.approve(address(registry), AMOUNT);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        registry.pay(invoice, issuerSignature);
        vm.stopPrank();

        assertEq(token.balanceOf(stranger), AMOUNT);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
    }

    function test_pay_RevertWhen_AlreadyPaidWithAuthorization() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes32 id = _invoiceId(invoice);
        (uint256 validAfter, uint256 validBefore) = _window();
        (address other, uint256 otherKey) = makeAddrAndKey("other-payer");
        _mint(other, AMOUNT);
        bytes memory authorization =
            _signReceiveAuthorization(otherKey, other, address(registry), AMOUNT, validAfter, validBefore, id);
        registry.payWithAuthorization(invoice, issuerSignature, other, validAfter, validBefore, authorization);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        _pay(invoice, issuerSignature);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE);
        _assertPaid(id, other, IInvoiceRegistry.Path.Authorization);
    }

    function test_pay_RevertWhen_Cancelled() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.prank(issuer);
        bytes32 id = registry.cancel(invoice);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceIsCancelled.selector, id));
        _pay(invoice, issuerSignature);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE);
        assertEq(token.balanceOf(payee), 0);
        _assertCancelled(id);
    }

    // ---------------------------------------------------------------------------------------------------
    // Issuer signature
    // ---------------------------------------------------------------------------------------------------

    function test_pay_RevertWhen_IssuerSignatureFromWrongSigner() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        (, uint256 otherKey) = makeAddrAndKey("impostor");
        _expectPayRevert(
            invoice,
            _signInvoiceWith(otherKey, invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function test_pay_RevertWhen_InvoiceTampered() public {
        IInvoiceRegistry.Invoice memory original = _invoice();
        bytes memory issuerSignature = _signInvoice(original);

        IInvoiceRegistry.Invoice[5] memory tampered;
        for (uint256 i; i < tampered.length; ++i) {
            tampered[i] = _invoice();
        }
        tampered[0].amount = 1; // pay less than due
        tampered[1].payee = stranger; // redirect the payment
        tampered[2].salt = bytes32(uint256(SALT) + 1);
        tampered[3].resource = bytes32(0);
        tampered[4].deadline = type(uint256).max;

        for (uint256 i; i < tampered.length; ++i) {
            _expectPayRevert(
                tampered[i],
                issuerSignature,
                abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
            );
        }
    }

    function test_pay_RevertWhen_IssuerSignedForAnotherRegistry() public {
        InvoiceRegistry otherRegistry = new InvoiceRegistry(owner);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectPayRevert(
            invoice,
            _signPacked(issuerKey, _invoiceIdIn(invoice, block.chainid, address(otherRegistry))),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function test_pay_RevertWhen_IssuerSignedForAnotherChain() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectPayRevert(
            invoice,
            _signPacked(issuerKey, _invoiceIdIn(invoice, 1, address(registry))),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function test_pay_RevertWhen_IssuerSignatureIsStructHashNotDigest() public {
        // The issuer must sign the full EIP-712 digest, not the bare struct hash.
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectPayRevert(
            invoice,
            _signPacked(issuerKey, _invoiceStructHash(invoice)),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    // ---------------------------------------------------------------------------------------------------
    // Allowance and balance (checked by the token)
    // ---------------------------------------------------------------------------------------------------

    function test_pay_RevertWhen_NoAllowance() public {
        vm.prank(payer);
        token.approve(address(registry), 0);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), 0, AMOUNT)
        );
    }

    function test_pay_RevertWhen_AllowanceInsufficient() public {
        vm.prank(payer);
        token.approve(address(registry), AMOUNT - 1);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), AMOUNT - 1, AMOUNT
            )
        );
        assertEq(token.allowance(payer, address(registry)), AMOUNT - 1);
    }

    function test_pay_RevertWhen_BalanceInsufficient() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.amount = INITIAL_BALANCE + 1;
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientBalance.selector, payer, INITIAL_BALANCE, INITIAL_BALANCE + 1
            )
        );
    }

    function test_pay_RevertWhen_AmountDoesNotArrive() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.mockCall(address(token), abi.encodeCall(IERC20.balanceOf, (payee)), abi.encode(uint256(0)));

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.AmountMismatch.selector, AMOUNT, 0));
        _pay(invoice, issuerSignature);

        vm.clearMockedCalls();
        _assertNothingMoved(_invoiceId(invoice));
    }

    /// @dev Paying oneself proves nothing and moves nothing: every path refuses it with PayerIsPayee.
    function test_pay_RevertWhen_PayerIsPayee() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.payee = payer;
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.PayerIsPayee.selector, payer));
        _pay(invoice, issuerSignature);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE);
        _assertUnpaid(_invoiceId(invoice));
    }

    // ---------------------------------------------------------------------------------------------------
    // Security
    // ---------------------------------------------------------------------------------------------------

    function test_pay_RevertWhen_CallerHasNoAllowanceEvenIfPayerHas() public {
        // The payer approved the registry without limit; nobody else can spend it through pay().
        _mint(stranger, AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), 0, AMOUNT)
        );
        vm.prank(stranger);
        registry.pay(invoice, issuerSignature);

        assertEq(token.allowance(payer, address(registry)), type(uint256).max);
        assertEq(token.balanceOf(stranger), AMOUNT);
        _assertNothingMoved(_invoiceId(invoice));
    }

    function test_pay_SpendsOnlyCallersFunds() public {
        _mint(stranger, AMOUNT);
        vm.prank(stranger);
        token.approve(address(registry), AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.prank(stranger);
        bytes32 id = registry.pay(invoice, issuerSignature);

        assertEq(token.balanceOf(stranger), 0);
        assertEq(token.balanceOf(payer), INITIAL_BALANCE, "payer's allowance untouched");
        assertEq(token.allowance(payer, address(registry)), type(uint256).max);
        _assertPaid(id, stranger, IInvoiceRegistry.Path.Allowance);
    }

    // ---------------------------------------------------------------------------------------------------
    // Fuzz
    // ---------------------------------------------------------------------------------------------------

    function testFuzz_pay_PaysAnyAmount(uint256 amount) public {
        amount = bound(amount, 1, INITIAL_BALANCE);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.amount = amount;

        bytes32 id = _pay(invoice, _signInvoice(invoice));

        assertEq(token.balanceOf(payee), amount);
        assertEq(token.balanceOf(payer), INITIAL_BALANCE - amount);
        assertEq(token.balanceOf(address(registry)), 0);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
    }

    function testFuzz_pay_AnyTermsAndIssuer(uint256 key, uint256 deadline, bytes32 salt, bytes32 resource) public {
        key = boundPrivateKey(key);
        deadline = bound(deadline, block.timestamp, type(uint256).max);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.issuer = vm.addr(key);
        invoice.deadline = deadline;
        invoice.salt = salt;
        invoice.resource = resource;

        bytes32 id = _pay(invoice, _signInvoiceWith(key, invoice));

        assertEq(id, _invoiceId(invoice));
        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
    }

    function testFuzz_pay_RevertWhen_WrongIssuerKey(uint256 wrongKey) public {
        wrongKey = boundPrivateKey(wrongKey);
        vm.assume(wrongKey != issuerKey);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectPayRevert(
            invoice,
            _signInvoiceWith(wrongKey, invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function testFuzz_pay_RevertWhen_AllowanceShort(uint256 amount, uint256 allowance) public {
        amount = bound(amount, 1, INITIAL_BALANCE);
        allowance = bound(allowance, 0, amount - 1);
        vm.prank(payer);
        token.approve(address(registry), allowance);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.amount = amount;
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), allowance, amount
            )
        );
    }
}
