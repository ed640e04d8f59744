// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {InvoiceRegistryBase} from "../base/InvoiceRegistryBase.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {MockSettler} from "../mocks/MockSettler.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

contract SettleTest is InvoiceRegistryBase {
    function setUp() public override {
        super.setUp();
        _fundSettler(IInvoiceRegistry.Path.Escrow, AMOUNT);
    }

    /// @dev Expects `revertData` from the settler settling `invoice` for the payer, then checks that nothing moved.
    function _expectSettleRevert(
        IInvoiceRegistry.Invoice memory invoice,
        bytes memory issuerSignature,
        bytes memory revertData
    ) internal {
        vm.expectRevert(revertData);
        settler.settle(invoice, issuerSignature, payer);
        assertEq(token.balanceOf(address(settler)), AMOUNT, "settler balance");
        _assertNothingMoved(_invoiceId(invoice));
    }

    // ---------------------------------------------------------------------------------------------------
    // Happy paths
    // ---------------------------------------------------------------------------------------------------

    function test_settle_EscrowPaysPayeeInSameTransaction() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 expectedId = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectEmit(address(registry));
        emit IInvoiceRegistry.InvoicePaid(
            expectedId, payer, payee, address(token), AMOUNT, IInvoiceRegistry.Path.Escrow, address(settler)
        );
        vm.expectEmit(address(token));
        emit IERC20.Transfer(address(settler), payee, AMOUNT);
        bytes32 id = settler.settle(invoice, issuerSignature, payer);

        assertEq(id, expectedId, "returned id");
        assertEq(token.balanceOf(payee), AMOUNT, "payee credited");
        assertEq(token.balanceOf(address(settler)), 0, "settler debited");
        assertEq(token.balanceOf(payer), INITIAL_BALANCE, "payer untouched");
        assertEq(token.balanceOf(address(registry)), 0, "registry holds nothing");
        assertEq(token.allowance(address(settler), address(registry)), 0, "allowance consumed");
        _assertPaid(id, payer, IInvoiceRegistry.Path.Escrow);
    }

    function test_settle_CrossChainRecordsItsKind() public {
        MockSettler receiver = new MockSettler(registry);
        vm.prank(owner);
        registry.setSettler(address(receiver), IInvoiceRegistry.Path.CrossChain);
        _mint(address(receiver), AMOUNT);
        receiver.approveRegistry(token, AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 expectedId = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectEmit(address(registry));
        emit IInvoiceRegistry.InvoicePaid(
            expectedId, payer, payee, address(token), AMOUNT, IInvoiceRegistry.Path.CrossChain, address(receiver)
        );
        bytes32 id = receiver.settle(invoice, issuerSignature, payer);

        assertEq(token.balanceOf(payee), AMOUNT);
        assertEq(token.balanceOf(address(receiver)), 0);
        _assertPaid(id, payer, IInvoiceRegistry.Path.CrossChain);
    }

    function test_settle_RecordsTheNamedPayer() public {
        // The settler vouches for the payer; the registry records whoever it names (but never address(0)).
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = settler.settle(invoice, _signInvoice(invoice), stranger);
        _assertPaid(id, stranger, IInvoiceRegistry.Path.Escrow);
    }

    function test_settle_PaysAtDeadline() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.warp(invoice.deadline);

        bytes32 id = settler.settle(invoice, issuerSignature, payer);

        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Escrow);
    }

    function test_settle_AcceptsContractWalletIssuer() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(issuer);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.issuer = address(wallet);

        bytes32 id = settler.settle(invoice, _signInvoice(invoice), payer);

        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Escrow);
    }

    function test_settle_SettlerKindChangeTakesEffect() public {
        vm.prank(owner);
        registry.setSettler(address(settler), IInvoiceRegistry.Path.CrossChain);
        IInvoiceRegistry.Invoice memory invoice = _invoice();

        bytes32 id = settler.settle(invoice, _signInvoice(invoice), payer);

        _assertPaid(id, payer, IInvoiceRegistry.Path.CrossChain);
    }

    // ---------------------------------------------------------------------------------------------------
    // Caller and payer
    // ---------------------------------------------------------------------------------------------------

    function test_settle_RevertWhen_CallerIsNotSettler() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        _mint(stranger, AMOUNT);
        vm.prank(stranger);
        token.approve(address(registry), AMOUNT);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.Unauthorized.selector, stranger));
        vm.prank(stranger);
        registry.settle(invoice, issuerSignature, payer);

        assertEq(token.balanceOf(stranger), AMOUNT);
        _assertNothingMoved(_invoiceId(invoice));
    }

    function test_settle_RevertWhen_CallerIsOwnerOrIssuerOrPayer() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        address[3] memory callers = [owner, issuer, payer];
        for (uint256 i; i < callers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.Unauthorized.selector, callers[i]));
            vm.prank(callers[i]);
            registry.settle(invoice, issuerSignature, payer);
        }
        _assertNothingMoved(_invoiceId(invoice));
    }

    function test_settle_RevertWhen_SettlerUnregisteredContract() public {
        MockSettler unregistered = new MockSettler(registry);
        _mint(address(unregistered), AMOUNT);
        unregistered.approveRegistry(token, AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.Unauthorized.selector, address(unregistered)));
        unregistered.settle(invoice, issuerSignature, payer);

        assertEq(token.balanceOf(address(unregistered)), AMOUNT);
        _assertNothingMoved(_invoiceId(invoice));
    }

    function test_settle_RevertWhen_SettlerRevoked() public {
        vm.prank(owner);
        registry.setSettler(address(settler), IInvoiceRegistry.Path.None);
        IInvoiceRegistry.Invoice memory invoice = _invoice();

        _expectSettleRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.Unauthorized.selector, address(settler))
        );
    }

    function test_settle_RevertWhen_PayerIsZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvalidPayer.selector, address(0)));
        settler.settle(invoice, issuerSignature, address(0));

        assertEq(token.balanceOf(address(settler)), AMOUNT);
        _assertNothingMoved(_invoiceId(invoice));
    }

    // ---------------------------------------------------------------------------------------------------
    // Settler funds (a settler can only mark an invoice paid by paying it)
    // ---------------------------------------------------------------------------------------------------

    function test_settle_RevertWhen_SettlerHasNoAllowance() public {
        settler.approveRegistry(token, 0);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectSettleRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), 0, AMOUNT)
        );
    }

    function test_settle_RevertWhen_SettlerAllowanceShort() public {
        settler.approveRegistry(token, AMOUNT - 1);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectSettleRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), AMOUNT - 1, AMOUNT
            )
        );
    }

    function test_settle_RevertWhen_SettlerBalanceInsufficient() public {
        settler.approveRegistry(token, type(uint256).max);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.amount = AMOUNT + 1;
        _expectSettleRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, address(settler), AMOUNT, AMOUNT + 1)
        );
    }

    function test_settle_RevertWhen_SettlerCannotUsePayersAllowance() public {
        // The payer's allowance to the registry is not the settler's: settle() pulls from the settler only.
        settler.approveRegistry(token, 0);
        vm.prank(payer);
        token.approve(address(registry), type(uint256).max);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), 0, AMOUNT)
        );
        settler.settle(invoice, issuerSignature, payer);

        _assertNothingMoved(_invoiceId(invoice));
    }

    function test_settle_RevertWhen_AmountDoesNotArrive() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.mockCall(address(token), abi.encodeCall(IERC20.balanceOf, (payee)), abi.encode(uint256(0)));

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.AmountMismatch.selector, AMOUNT, 0));
        settler.settle(invoice, issuerSignature, payer);

        vm.clearMockedCalls();
        assertEq(token.balanceOf(address(settler)), AMOUNT);
        _assertNothingMoved(_invoiceId(invoice));
    }

    // ---------------------------------------------------------------------------------------------------
    // Invalid invoices
    // ---------------------------------------------------------------------------------------------------

    function test_settle_RevertWhen_AmountIsZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.amount = 0;
        _expectSettleRevert(
            invoice, _signInvoice(invoice), abi.encodeWithSelector(IInvoiceRegistry.ZeroAmount.selector)
        );
    }

    function test_settle_RevertWhen_PayeeIsZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.payee = address(0);
        _expectSettleRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, address(0), address(token))
        );
    }

    function test_settle_RevertWhen_PayeeIsRegistry() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.payee = address(registry);
        _expectSettleRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, address(registry), address(token))
        );
    }

    function test_settle_RevertWhen_TokenIsZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.token = address(0);
        _expectSettleRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, payee, address(0))
        );
    }

    function test_settle_RevertWhen_TokenHasNoCode() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.token = stranger;
        _expectSettleRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, payee, stranger)
        );
    }

    function test_settle_RevertWhen_PastDeadline() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.warp(invoice.deadline + 1);
        _expectSettleRevert(
            invoice,
            issuerSignature,
            abi.encodeWithSelector(IInvoiceRegistry.InvoiceExpired.selector, invoice.deadline, invoice.deadline + 1)
        );
    }

    function test_settle_RevertWhen_NetworkIsAnotherChain() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.network = "eip155:8453";
        _expectSettleRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.WrongNetwork.selector, "eip155:8453")
        );
    }

    function test_settle_RevertWhen_ChainIdChanged() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.chainId(1);
        _expectSettleRevert(
            invoice, issuerSignature, abi.encodeWithSelector(IInvoiceRegistry.WrongNetwork.selector, "eip155:31337")
        );
    }

    function test_settle_RevertWhen_IssuerSignatureFromWrongSigner() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectSettleRevert(
            invoice,
            _signInvoiceWith(payerKey, invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function test_settle_RevertWhen_InvoiceTampered() public {
        IInvoiceRegistry.Invoice memory original = _invoice();
        bytes memory issuerSignature = _signInvoice(original);
        IInvoiceRegistry.Invoice memory tampered = _invoice();
        tampered.amount = AMOUNT - 1;
        _expectSettleRevert(
            tampered, issuerSignature, abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
        tampered = _invoice();
        tampered.payee = address(settler);
        _expectSettleRevert(
            tampered, issuerSignature, abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function test_settle_RevertWhen_IssuerSignedForAnotherRegistry() public {
        InvoiceRegistry otherRegistry = new InvoiceRegistry(owner);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectSettleRevert(
            invoice,
            _signPacked(issuerKey, _invoiceIdIn(invoice, block.chainid, address(otherRegistry))),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function test_settle_RevertWhen_IssuerSignedForAnotherChain() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectSettleRevert(
            invoice,
            _signPacked(issuerKey, _invoiceIdIn(invoice, 1, address(registry))),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    // ---------------------------------------------------------------------------------------------------
    // Paid and cancelled invoices
    // ---------------------------------------------------------------------------------------------------

    function test_settle_RevertWhen_AlreadySettled() public {
        _mint(address(settler), AMOUNT);
        settler.approveRegistry(token, 2 * AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes32 id = settler.settle(invoice, issuerSignature, payer);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        settler.settle(invoice, issuerSignature, stranger);

        assertEq(token.balanceOf(address(settler)), AMOUNT);
        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Escrow);
    }

    function test_settle_RevertWhen_AlreadyPaidDirectly() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.startPrank(payer);
        token.approve(address(registry), AMOUNT);
        bytes32 id = registry.pay(invoice, issuerSignature);
        vm.stopPrank();

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        settler.settle(invoice, issuerSignature, payer);

        assertEq(token.balanceOf(address(settler)), AMOUNT, "settler keeps its funds");
        _assertPaid(id, payer, IInvoiceRegistry.Path.Allowance);
    }

    function test_settle_BlocksEveryOtherPath() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        (uint256 validAfter, uint256 validBefore) = _window();
        bytes memory authorization =
            _signReceiveAuthorization(payerKey, payer, address(registry), AMOUNT, validAfter, validBefore, id);
        bytes memory permit = _signPermit(payerKey, payer, AMOUNT, block.timestamp + 1 hours);
        vm.prank(payer);
        token.approve(address(registry), AMOUNT);
        settler.settle(invoice, issuerSignature, payer);
        bytes memory paid = abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id);

        vm.expectRevert(paid);
        registry.payWithAuthorization(invoice, issuerSignature, payer, validAfter, validBefore, authorization);
        vm.expectRevert(paid);
        vm.prank(payer);
        registry.payWithPermit(invoice, issuerSignature, block.timestamp + 1 hours, permit);
        vm.expectRevert(paid);
        vm.prank(payer);
        registry.pay(invoice, issuerSignature);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE, "payer never charged");
        assertEq(token.balanceOf(payee), AMOUNT, "payee paid once");
        _assertPaid(id, payer, IInvoiceRegistry.Path.Escrow);
    }

    function test_settle_RevertWhen_Cancelled() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        vm.prank(issuer);
        bytes32 id = registry.cancel(invoice);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceIsCancelled.selector, id));
        settler.settle(invoice, issuerSignature, payer);

        assertEq(token.balanceOf(address(settler)), AMOUNT);
        _assertCancelled(id);
    }

    function test_settle_RevertWhen_NamedPayerIsPayee() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.PayerIsPayee.selector, payee));
        settler.settle(invoice, issuerSignature, payee);
        _assertUnpaid(_invoiceId(invoice));
    }

    /// @dev Paying oneself proves nothing and moves nothing: every path refuses it with PayerIsPayee.
    function test_settle_RevertWhen_SettlerIsPayee() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.payee = address(settler);
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.PayerIsPayee.selector, address(settler)));
        settler.settle(invoice, issuerSignature, payer);
        _assertUnpaid(_invoiceId(invoice));
    }

    // ---------------------------------------------------------------------------------------------------
    // Fuzz
    // ---------------------------------------------------------------------------------------------------

    function testFuzz_settle_PaysAnyAmountForAnyPayer(uint256 amount, address onBehalfOf) public {
        vm.assume(onBehalfOf != address(0));
        amount = bound(amount, 1, INITIAL_BALANCE);
        _mint(address(settler), amount);
        settler.approveRegistry(token, amount);
        uint256 settlerBefore = token.balanceOf(address(settler));
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.amount = amount;

        bytes32 id = settler.settle(invoice, _signInvoice(invoice), onBehalfOf);

        assertEq(token.balanceOf(payee), amount);
        assertEq(token.balanceOf(address(settler)), settlerBefore - amount);
        assertEq(token.balanceOf(address(registry)), 0);
        _assertPaid(id, onBehalfOf, IInvoiceRegistry.Path.Escrow);
    }

    function testFuzz_settle_RevertWhen_CallerNotSettler(address caller) public {
        vm.assume(caller != address(settler));
        assumeNotForgeAddress(caller);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.Unauthorized.selector, caller));
        vm.prank(caller);
        registry.settle(invoice, issuerSignature, payer);
    }

    function testFuzz_settle_RevertWhen_WrongIssuerKey(uint256 wrongKey) public {
        wrongKey = boundPrivateKey(wrongKey);
        vm.assume(wrongKey != issuerKey);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectSettleRevert(
            invoice,
            _signInvoiceWith(wrongKey, invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }
}
