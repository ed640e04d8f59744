// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {InvoiceRegistryBase} from "../base/InvoiceRegistryBase.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

contract PayWithPermitTest is InvoiceRegistryBase {
    uint256 internal permitDeadline;

    function setUp() public override {
        super.setUp();
        permitDeadline = block.timestamp + 1 hours;
    }

    /// @dev The payer's permit for the registry to spend `value`.
    function _permit(uint256 value) internal view returns (bytes memory) {
        return _signPermit(payerKey, payer, value, permitDeadline);
    }

    function _payWithPermit(IInvoiceRegistry.Invoice memory invoice, bytes memory issuerSignature, bytes memory permit)
        internal
        returns (bytes32)
    {
        vm.prank(payer);
        return registry.payWithPermit(invoice, issuerSignature, permitDeadline, permit);
    }

    /// @dev Expects `revertData` from the payer paying `invoice` with a fresh, valid permit, then checks that nothing
    /// moved and the permit was not consumed.
    function _expectPayRevert(
        IInvoiceRegistry.Invoice memory invoice,
        bytes memory issuerSignature,
        bytes memory revertData
    ) internal {
        bytes memory permit = _permit(invoice.amount);
        vm.expectRevert(revertData);
        _payWithPermit(invoice, issuerSignature, permit);
        _assertNothingMoved(_invoiceId(invoice));
        assertEq(token.nonces(payer), 0, "permit nonce untouched");
        assertEq(token.allowance(payer, address(registry)), 0, "no allowance left");
    }

    // ---------------------------------------------------------------------------------------------------
    // Happy paths
    // ---------------------------------------------------------------------------------------------------

    function test_payWithPermit_PaysPayeeInSameTransaction() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 expectedId = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _permit(AMOUNT);

        vm.expectEmit(address(token));
        emit IERC20.Approval(payer, address(registry), AMOUNT);
        vm.expectEmit(address(registry));
        emit IInvoiceRegistry.InvoicePaid(
            expectedId, payer, payee, address(token), AMOUNT, IInvoiceRegistry.Path.Permit, payer
        );
        vm.expectEmit(address(token));
        emit IERC20.Transfer(payer, payee, AMOUNT);
        bytes32 id = _payWithPermit(invoice, issuerSignature, permit);

        assertEq(id, expectedId, "returned id");
        assertEq(registry.invoiceId(invoice), expectedId, "invoiceId view");
        assertEq(token.balanceOf(payee), AMOUNT, "payee credited");
        assertEq(token.balanceOf(payer), INITIAL_BALANCE - AMOUNT, "payer debited");
        assertEq(token.balanceOf(address(registry)), 0, "registry holds nothing");
        assertEq(token.allowance(payer, address(registry)), 0, "allowance consumed");
        assertEq(token.nonces(payer), 1, "permit nonce used");
        _assertPaid(id, payer, IInvoiceRegistry.Path.Permit);
    }

    function test_payWithPermit_PaysAtDeadline() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.deadline = block.timestamp + 10 minutes;
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _permit(AMOUNT);
        vm.warp(invoice.deadline);

        bytes32 id = _payWithPermit(invoice, issuerSignature, permit);

        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Permit);
    }

    function test_payWithPermit_SucceedsWhenPermitFrontRun() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _permit(AMOUNT);
        // Someone watching the mempool submits the permit first.
        vm.prank(stranger);
        token.permit(payer, address(registry), AMOUNT, permitDeadline, permit);
        assertEq(token.nonces(payer), 1);

        bytes32 id = _payWithPermit(invoice, issuerSignature, permit);

        assertEq(token.balanceOf(payee), AMOUNT);
        assertEq(token.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        assertEq(token.allowance(payer, address(registry)), 0);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Permit);
    }

    function test_payWithPermit_SucceedsWithPriorAllowanceAndUnusablePermit() public {
        // The permit is tolerated to fail (documented): an existing allowance pays.
        vm.prank(payer);
        token.approve(address(registry), AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);

        bytes32 id = _payWithPermit(invoice, issuerSignature, new bytes(65));

        assertEq(token.balanceOf(payee), AMOUNT);
        assertEq(token.nonces(payer), 0);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Permit);
    }

    function test_payWithPermit_AcceptsContractWalletPayer() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(payer);
        _mint(address(wallet), AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _signPermit(payerKey, address(wallet), AMOUNT, permitDeadline);

        vm.prank(address(wallet));
        bytes32 id = registry.payWithPermit(invoice, issuerSignature, permitDeadline, permit);

        assertEq(token.balanceOf(address(wallet)), 0);
        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, address(wallet), IInvoiceRegistry.Path.Permit);
    }

    function test_payWithPermit_AcceptsContractWalletIssuer() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(issuer);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.issuer = address(wallet);
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _permit(AMOUNT);

        bytes32 id = _payWithPermit(invoice, issuerSignature, permit);

        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Permit);
    }

    // ---------------------------------------------------------------------------------------------------
    // Permit signature format
    // ---------------------------------------------------------------------------------------------------

    function test_payWithPermit_RevertWhen_PermitSignatureNot65Bytes() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _permit(AMOUNT);
        bytes[4] memory malformed = [bytes(""), new bytes(64), abi.encodePacked(permit, uint8(0)), new bytes(130)];
        // Even a prior allowance does not excuse a malformed permit.
        vm.prank(payer);
        token.approve(address(registry), AMOUNT);

        for (uint256 i; i < malformed.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvalidPermitSignature.selector));
            _payWithPermit(invoice, issuerSignature, malformed[i]);
        }
        assertEq(token.nonces(payer), 0);
        _assertNothingMoved(_invoiceId(invoice));
    }

    // ---------------------------------------------------------------------------------------------------
    // Invalid invoices
    // ---------------------------------------------------------------------------------------------------

    function test_payWithPermit_RevertWhen_AmountIsZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.amount = 0;
        _expectPayRevert(invoice, _signInvoice(invoice), abi.encodeWithSelector(IInvoiceRegistry.ZeroAmount.selector));
    }

    function test_payWithPermit_RevertWhen_PayeeIsZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.payee = address(0);
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, address(0), address(token))
        );
    }

    function test_payWithPermit_RevertWhen_PayeeIsRegistry() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.payee = address(registry);
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, address(registry), address(token))
        );
    }

    function test_payWithPermit_RevertWhen_TokenIsZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.token = address(0);
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, payee, address(0))
        );
    }

    function test_payWithPermit_RevertWhen_TokenHasNoCode() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.token = stranger;
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, payee, stranger)
        );
    }

    function test_payWithPermit_RevertWhen_PastDeadline() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.deadline = block.timestamp + 10 minutes;
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.warp(invoice.deadline + 1);

        _expectPayRevert(
            invoice,
            issuerSignature,
            abi.encodeWithSelector(IInvoiceRegistry.InvoiceExpired.selector, invoice.deadline, invoice.deadline + 1)
        );
    }

    function test_payWithPermit_RevertWhen_NetworkIsAnotherChain() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.network = "eip155:1";
        _expectPayRevert(
            invoice, _signInvoice(invoice), abi.encodeWithSelector(IInvoiceRegistry.WrongNetwork.selector, "eip155:1")
        );
    }

    function test_payWithPermit_RevertWhen_ChainIdChanged() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.chainId(10);

        _expectPayRevert(
            invoice, issuerSignature, abi.encodeWithSelector(IInvoiceRegistry.WrongNetwork.selector, "eip155:31337")
        );
    }

    // ---------------------------------------------------------------------------------------------------
    // Paid and cancelled invoices
    // ---------------------------------------------------------------------------------------------------

    function test_payWithPermit_RevertWhen_PaidTwice() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes32 id = _payWithPermit(invoice, issuerSignature, _permit(AMOUNT));
        bytes memory secondPermit = _permit(AMOUNT);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        _payWithPermit(invoice, issuerSignature, secondPermit);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        assertEq(token.balanceOf(payee), AMOUNT);
        assertEq(token.nonces(payer), 1, "second permit not consumed");
    }

    function test_payWithPermit_RevertWhen_AlreadyPaidByAnotherPath() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        _mint(stranger, AMOUNT);
        vm.startPrank(stranger);
        token.approve(address(registry), AMOUNT);
        bytes32 id = registry.pay(invoice, issuerSignature);
        vm.stopPrank();
        bytes memory permit = _permit(AMOUNT);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        _payWithPermit(invoice, issuerSignature, permit);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE);
        assertEq(token.nonces(payer), 0);
        _assertPaid(id, stranger, IInvoiceRegistry.Path.Allowance);
    }

    function test_payWithPermit_RevertWhen_Cancelled() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.prank(issuer);
        bytes32 id = registry.cancel(invoice);
        bytes memory permit = _permit(AMOUNT);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceIsCancelled.selector, id));
        _payWithPermit(invoice, issuerSignature, permit);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE);
        assertEq(token.nonces(payer), 0);
        _assertCancelled(id);
    }

    // ---------------------------------------------------------------------------------------------------
    // Issuer signature
    // ---------------------------------------------------------------------------------------------------

    function test_payWithPermit_RevertWhen_IssuerSignatureFromWrongSigner() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectPayRevert(
            invoice,
            _signInvoiceWith(payerKey, invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function test_payWithPermit_RevertWhen_InvoiceTampered() public {
        IInvoiceRegistry.Invoice memory original = _invoice();
        bytes memory issuerSignature = _signInvoice(original);
        IInvoiceRegistry.Invoice[4] memory tampered;
        for (uint256 i; i < tampered.length; ++i) {
            tampered[i] = _invoice();
        }
        tampered[0].amount = AMOUNT / 2;
        tampered[1].payee = stranger;
        tampered[2].salt = bytes32(0);
        tampered[3].resource = keccak256("another resource");

        for (uint256 i; i < tampered.length; ++i) {
            _expectPayRevert(
                tampered[i],
                issuerSignature,
                abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
            );
        }
    }

    function test_payWithPermit_RevertWhen_IssuerSignedForAnotherRegistry() public {
        InvoiceRegistry otherRegistry = new InvoiceRegistry(owner);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectPayRevert(
            invoice,
            _signPacked(issuerKey, _invoiceIdIn(invoice, block.chainid, address(otherRegistry))),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function test_payWithPermit_RevertWhen_IssuerSignedForAnotherChain() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectPayRevert(
            invoice,
            _signPacked(issuerKey, _invoiceIdIn(invoice, 1, address(registry))),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    // ---------------------------------------------------------------------------------------------------
    // Permit failures (the payment then needs an allowance it does not have)
    // ---------------------------------------------------------------------------------------------------

    function test_payWithPermit_RevertWhen_PermitFromWrongSigner() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _signPermit(issuerKey, payer, AMOUNT, permitDeadline);

        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), 0, AMOUNT)
        );
        _payWithPermit(invoice, issuerSignature, permit);
        _assertNothingMoved(_invoiceId(invoice));
    }

    function test_payWithPermit_RevertWhen_PermitExpired() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _permit(AMOUNT);
        vm.warp(permitDeadline + 1); // invoice still payable

        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), 0, AMOUNT)
        );
        _payWithPermit(invoice, issuerSignature, permit);
        _assertNothingMoved(_invoiceId(invoice));
    }

    function test_payWithPermit_RevertWhen_PermitForAnotherValue() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _permit(AMOUNT * 2); // the registry asks for exactly the invoice amount

        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), 0, AMOUNT)
        );
        _payWithPermit(invoice, issuerSignature, permit);
        _assertNothingMoved(_invoiceId(invoice));
    }

    function test_payWithPermit_RevertWhen_PermitForAnotherSpender() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit =
            _signPacked(payerKey, _permitDigest(payer, stranger, AMOUNT, token.nonces(payer), permitDeadline));

        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), 0, AMOUNT)
        );
        _payWithPermit(invoice, issuerSignature, permit);
        _assertNothingMoved(_invoiceId(invoice));
        assertEq(token.allowance(payer, stranger), 0);
    }

    function test_payWithPermit_RevertWhen_BalanceInsufficient() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.amount = INITIAL_BALANCE + 1;
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _permit(invoice.amount);

        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientBalance.selector, payer, INITIAL_BALANCE, INITIAL_BALANCE + 1
            )
        );
        _payWithPermit(invoice, issuerSignature, permit);

        // The whole transaction reverted, the permit included.
        assertEq(token.nonces(payer), 0);
        _assertNothingMoved(_invoiceId(invoice));
    }

    function test_payWithPermit_RevertWhen_AmountDoesNotArrive() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _permit(AMOUNT);
        vm.mockCall(address(token), abi.encodeCall(IERC20.balanceOf, (payee)), abi.encode(uint256(0)));

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.AmountMismatch.selector, AMOUNT, 0));
        _payWithPermit(invoice, issuerSignature, permit);

        vm.clearMockedCalls();
        assertEq(token.nonces(payer), 0);
        _assertNothingMoved(_invoiceId(invoice));
    }

    /// @dev Paying oneself proves nothing and moves nothing: every path refuses it with PayerIsPayee.
    function test_payWithPermit_RevertWhen_PayerIsPayee() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.payee = payer;
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _permit(AMOUNT);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.PayerIsPayee.selector, payer));
        _payWithPermit(invoice, issuerSignature, permit);
        _assertUnpaid(_invoiceId(invoice));
    }

    // ---------------------------------------------------------------------------------------------------
    // Security
    // ---------------------------------------------------------------------------------------------------

    function test_payWithPermit_RevertWhen_AttackerSubmitsVictimsPermit() public {
        // payWithPermit permits msg.sender, never a named payer: the victim's permit is useless to the attacker.
        address attacker = stranger;
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory victimPermit = _permit(AMOUNT);

        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), 0, AMOUNT)
        );
        vm.prank(attacker);
        registry.payWithPermit(invoice, issuerSignature, permitDeadline, victimPermit);

        _assertNothingMoved(_invoiceId(invoice));
        assertEq(token.nonces(payer), 0, "victim's permit not consumed");
        assertEq(token.allowance(payer, address(registry)), 0);

        // The victim can still use it.
        bytes32 id = _payWithPermit(invoice, issuerSignature, victimPermit);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Permit);
    }

    function test_payWithPermit_AttackerWithFundsPaysFromOwnBalanceOnly() public {
        address attacker = stranger;
        _mint(attacker, AMOUNT);
        vm.prank(attacker);
        token.approve(address(registry), AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory victimPermit = _permit(AMOUNT);

        vm.prank(attacker);
        bytes32 id = registry.payWithPermit(invoice, issuerSignature, permitDeadline, victimPermit);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE, "victim untouched");
        assertEq(token.nonces(payer), 0, "victim's permit not consumed");
        assertEq(token.balanceOf(attacker), 0);
        _assertPaid(id, attacker, IInvoiceRegistry.Path.Permit);
    }

    // ---------------------------------------------------------------------------------------------------
    // Fuzz
    // ---------------------------------------------------------------------------------------------------

    function testFuzz_payWithPermit_PaysAnyAmount(uint256 amount) public {
        amount = bound(amount, 1, INITIAL_BALANCE);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.amount = amount;
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _permit(amount);

        bytes32 id = _payWithPermit(invoice, issuerSignature, permit);

        assertEq(token.balanceOf(payee), amount);
        assertEq(token.balanceOf(payer), INITIAL_BALANCE - amount);
        assertEq(token.balanceOf(address(registry)), 0);
        assertEq(token.allowance(payer, address(registry)), 0);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Permit);
    }

    function testFuzz_payWithPermit_AnyPayerKeyAndTerms(uint256 key, uint256 deadline, bytes32 salt) public {
        key = boundPrivateKey(key);
        deadline = bound(deadline, block.timestamp, type(uint256).max);
        address fuzzPayer = vm.addr(key);
        vm.assume(fuzzPayer != payee);
        _mint(fuzzPayer, AMOUNT);
        uint256 before = token.balanceOf(fuzzPayer);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.deadline = deadline;
        invoice.salt = salt;
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory permit = _signPermit(key, fuzzPayer, AMOUNT, permitDeadline);

        vm.prank(fuzzPayer);
        bytes32 id = registry.payWithPermit(invoice, issuerSignature, permitDeadline, permit);

        assertEq(token.balanceOf(fuzzPayer), before - AMOUNT);
        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, fuzzPayer, IInvoiceRegistry.Path.Permit);
    }

    function testFuzz_payWithPermit_RevertWhen_WrongIssuerKey(uint256 wrongKey) public {
        wrongKey = boundPrivateKey(wrongKey);
        vm.assume(wrongKey != issuerKey);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectPayRevert(
            invoice,
            _signInvoiceWith(wrongKey, invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function testFuzz_payWithPermit_RevertWhen_PermitSignatureLengthWrong(uint256 length) public {
        length = bound(length, 0, 200);
        vm.assume(length != 65);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvalidPermitSignature.selector));
        _payWithPermit(invoice, issuerSignature, new bytes(length));
        _assertNothingMoved(_invoiceId(invoice));
    }
}
