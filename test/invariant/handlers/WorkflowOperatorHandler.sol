// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {WorkflowOperator} from "../../../contracts/cre/WorkflowOperator.sol";
import {PaymentEscrow} from "../../../contracts/escrow/PaymentEscrow.sol";
import {IInvoiceRegistry} from "../../../contracts/interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../../../contracts/interfaces/IPaymentEscrow.sol";
import {IWorkflowOperator} from "../../../contracts/interfaces/IWorkflowOperator.sol";
import {InvoiceRegistry} from "../../../contracts/registry/InvoiceRegistry.sol";
import {TestStablecoin} from "../../../contracts/tokens/TestStablecoin.sol";
import {operatedTerms} from "../../base/WorkflowOperatorBase.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

/// @notice Plays the KeystoneForwarder of two WorkflowOperators pinned to the same workflow (only the first is
/// named by any payment) over a real PaymentEscrow, InvoiceRegistry and TestStablecoin. Payers open and top up
/// payments; the handler delivers reports for any payment in any order: valid ones for any action, exact
/// replays of accepted reports, conflicting decisions for a payment already acted on, and reports from the
/// wrong workflow, past their deadline, for another chain or operator, or from someone not the forwarder.
/// Payers reclaim after expiry, payees refund. A ghost ledger keeps what every payment should have moved.
/// @dev Every delivery predicts its outcome (and, for a refusal by the operator, its exact error); a mismatch
/// is counted and checked to be zero by the invariant suite, since the runner ignores reverts.
contract WorkflowOperatorHandler is CommonBase, StdCheats, StdUtils {
    /// @notice The ghost record of one payment.
    struct Ghost {
        uint256 authorized;
        uint256 captured;
        uint256 invoicePaid;
        uint256 voided;
        uint256 reclaimed;
        uint256 refunded;
        uint256 actions;
        IWorkflowOperator.Action action;
    }

    /// @notice One payment, its invoice (payable from it by a PayInvoice report) and its ghost.
    struct Payment {
        IPaymentEscrow.PaymentTerms terms;
        bytes32 id;
        IInvoiceRegistry.Invoice invoice;
        bytes32 invoiceId;
        Ghost ghost;
    }

    bytes10 public constant WORKFLOW_NAME = "a1b2c3d4e5";
    bytes32 public constant WORKFLOW_ID = keccak256("workflow v1");
    uint256 internal constant MAX_PAYMENTS = 24;
    uint256 internal constant MAX_AMOUNT = 1_000_000e6;

    TestStablecoin public immutable usdc;
    InvoiceRegistry public immutable registry;
    PaymentEscrow public immutable escrow;
    WorkflowOperator public immutable operator;
    /// @notice A second operator pinned to the same workflow: reports meant for `operator` must not work there.
    WorkflowOperator public immutable other;
    address public immutable workflowOwner;
    address public immutable stranger;
    address public immutable issuer;
    uint256 internal immutable _issuerKey;

    address[] internal _payers;
    address[] internal _payees;
    Payment[] internal _payments;
    mapping(address account => uint256 amount) public minted;
    uint256 public totalMinted;

    /// @dev The accepted report of each payment (metadata, body), for exact replays.
    mapping(bytes32 id => bytes metadata) internal _acceptedMetadata;
    mapping(bytes32 id => bytes body) internal _acceptedBody;
    mapping(bytes32 id => uint64 deadline) internal _acceptedDeadline;

    uint256 public mispredictions;
    bytes public lastMisprediction;
    uint256 internal _reports;

    mapping(bytes32 op => uint256 count) public calls;
    mapping(bytes32 op => uint256 count) public successes;

    constructor() {
        usdc = new TestStablecoin("USD Coin", "USDC", "2", address(this));
        registry = new InvoiceRegistry(address(this));
        escrow = new PaymentEscrow(registry);
        registry.setSettler(address(escrow), IInvoiceRegistry.Path.Escrow);
        workflowOwner = makeAddr("workflowOwner");
        operator = new WorkflowOperator(escrow, address(this), workflowOwner, WORKFLOW_NAME, WORKFLOW_ID);
        other = new WorkflowOperator(escrow, address(this), workflowOwner, WORKFLOW_NAME, WORKFLOW_ID);
        stranger = makeAddr("stranger");
        (issuer, _issuerKey) = makeAddrAndKey("issuer");
        for (uint256 i; i < 3; ++i) {
            _payers.push(makeAddr(string.concat("payer", vm.toString(i))));
        }
        for (uint256 i; i < 2; ++i) {
            _payees.push(makeAddr(string.concat("payee", vm.toString(i))));
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Views for the invariant suite
    // ---------------------------------------------------------------------------------------------------

    function payments() external view returns (Payment[] memory) {
        return _payments;
    }

    function payers() external view returns (address[] memory) {
        return _payers;
    }

    function payees() external view returns (address[] memory) {
        return _payees;
    }

    // ---------------------------------------------------------------------------------------------------
    // Payers and payees
    // ---------------------------------------------------------------------------------------------------

    /// @notice A payer opens a payment naming the operator, with an allowance; the payment's invoice (to its
    /// payee, for at most what is held) is signed by the issuer.
    function open(uint256 payerSeed, uint256 payeeSeed, uint256 amountSeed, uint256 invoiceSeed) external {
        if (_payments.length >= MAX_PAYMENTS) return;
        calls["open"]++;
        uint256 amount = _bound(amountSeed, 1, MAX_AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = IInvoiceRegistry.Invoice({
            issuer: issuer,
            payee: _payees[payeeSeed % _payees.length],
            token: address(usdc),
            amount: _bound(invoiceSeed, 1, amount),
            deadline: block.timestamp + 2 hours,
            resource: keccak256(abi.encode("resource", _payments.length)),
            network: registry.network(),
            salt: keccak256(abi.encode("invoice", _payments.length))
        });
        IPaymentEscrow.PaymentTerms memory terms = operatedTerms(
            address(operator),
            _payers[payerSeed % _payers.length],
            invoice.payee,
            address(usdc),
            2 * amount,
            uint48(block.timestamp),
            keccak256(abi.encode("payment", _payments.length)),
            registry.invoiceId(invoice)
        );
        _mint(terms.payer, amount);
        vm.startPrank(terms.payer);
        usdc.approve(address(escrow), amount);
        bytes32 id = escrow.authorize(terms, amount, IPaymentEscrow.Method.Allowance, "");
        vm.stopPrank();
        successes["open"]++;

        Payment storage payment = _payments.push();
        payment.terms = terms;
        payment.id = id;
        payment.invoice = invoice;
        payment.invoiceId = registry.invoiceId(payment.invoice);
        payment.ghost.authorized = amount;
    }

    /// @notice The payer tops a payment up (possible until the pre-approval expiry, whatever the operator did).
    function topUp(uint256 paymentSeed, uint256 amountSeed) external {
        if (_payments.length == 0) return;
        calls["topUp"]++;
        Payment storage payment = _payments[paymentSeed % _payments.length];
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(payment.id);
        uint256 amount = _bound(amountSeed, 1, payment.terms.maxAmount);
        bool expected = !state.closed && block.timestamp < payment.terms.preApprovalExpiry
            && state.capturable + amount <= payment.terms.maxAmount;
        _mint(payment.terms.payer, amount);
        vm.startPrank(payment.terms.payer);
        usdc.approve(address(escrow), amount);
        try escrow.authorize(payment.terms, amount, IPaymentEscrow.Method.Allowance, "") {
            vm.stopPrank();
            if (_predicted("topUp", expected, true, "")) payment.ghost.authorized += amount;
        } catch (bytes memory err) {
            vm.stopPrank();
            _predicted("topUp", expected, false, err);
        }
    }

    /// @notice The payer takes back what is still held once the authorization has expired.
    function reclaim(uint256 paymentSeed) external {
        if (_payments.length == 0) return;
        calls["reclaim"]++;
        Payment storage payment = _payments[paymentSeed % _payments.length];
        uint256 held = escrow.paymentState(payment.id).capturable;
        bool expected = block.timestamp >= payment.terms.authorizationExpiry && held != 0;
        vm.prank(payment.terms.payer);
        try escrow.reclaim(payment.terms) {
            if (_predicted("reclaim", expected, true, "")) payment.ghost.reclaimed += held;
        } catch (bytes memory err) {
            _predicted("reclaim", expected, false, err);
        }
    }

    /// @notice The payee refunds part of what was captured, before the refund expiry.
    function refund(uint256 paymentSeed, uint256 amountSeed) external {
        if (_payments.length == 0) return;
        calls["refund"]++;
        Payment storage payment = _payments[paymentSeed % _payments.length];
        uint256 refundable = escrow.paymentState(payment.id).refundable;
        if (refundable == 0) return;
        uint256 amount = _bound(amountSeed, 1, refundable);
        bool expected = block.timestamp < payment.terms.refundExpiry;
        vm.startPrank(payment.terms.payee);
        usdc.approve(address(escrow), amount);
        try escrow.refund(payment.terms, amount) {
            vm.stopPrank();
            if (_predicted("refund", expected, true, "")) payment.ghost.refunded += amount;
        } catch (bytes memory err) {
            vm.stopPrank();
            _predicted("refund", expected, false, err);
        }
    }

    function warp(uint256 secondsSeed) external {
        calls["warp"]++;
        vm.warp(block.timestamp + _bound(secondsSeed, 1, 40 minutes));
    }

    // ---------------------------------------------------------------------------------------------------
    // Reports
    // ---------------------------------------------------------------------------------------------------

    /// @notice A valid report for any payment and any action, whatever was done before: the first one that
    /// the escrow can carry out acts, every later one (a conflicting decision or the same again) is refused.
    function report(uint256 paymentSeed, uint256 actionSeed, uint256 deadlineSeed) external {
        if (_payments.length == 0) return;
        Payment storage payment = _payments[paymentSeed % _payments.length];
        IWorkflowOperator.Action action = IWorkflowOperator.Action(_bound(actionSeed, 1, 3));
        IWorkflowOperator.Instruction memory instruction = _instruction(payment, action);
        // The deadline is inclusive: a report due this very second is still acted on.
        instruction.deadline = uint64(block.timestamp + _bound(deadlineSeed, 0, 1 hours));
        bytes memory metadata = _metadata(workflowOwner, WORKFLOW_NAME, WORKFLOW_ID);
        bytes memory body = abi.encode(instruction);

        IWorkflowOperator.Action done = payment.ghost.action;
        if (done != IWorkflowOperator.Action.None) {
            if (done == action) calls["report: same again"]++;
            else calls["report: conflicting"]++;
            _deliverRefused(
                "report: after acting",
                operator,
                metadata,
                body,
                abi.encodeWithSelector(IWorkflowOperator.AlreadyActed.selector, payment.id, done)
            );
            return;
        }
        calls["report"]++;
        _deliverValid(payment, action, metadata, body);
    }

    /// @notice The exact report that was accepted for a payment, delivered again (a replay through the
    /// forwarder, or another DON round of the same decision): refused.
    function replay(uint256 paymentSeed) external {
        if (_payments.length == 0) return;
        Payment storage payment = _payments[paymentSeed % _payments.length];
        bytes memory body = _acceptedBody[payment.id];
        if (body.length == 0) return;
        calls["replay"]++;
        uint64 deadline = _acceptedDeadline[payment.id];
        // Past its deadline the replay is refused as expired before the operator looks at the payment.
        _deliverRefused(
            "replay",
            operator,
            _acceptedMetadata[payment.id],
            body,
            block.timestamp > deadline
                ? abi.encodeWithSelector(IWorkflowOperator.ReportExpired.selector, deadline, block.timestamp)
                : abi.encodeWithSelector(IWorkflowOperator.AlreadyActed.selector, payment.id, payment.ghost.action)
        );
    }

    /// @notice A report from another workflow: wrong owner, name or id, or metadata of the wrong length.
    function wrongWorkflow(uint256 paymentSeed, uint256 actionSeed, uint256 kindSeed) external {
        if (_payments.length == 0) return;
        calls["wrongWorkflow"]++;
        Payment storage payment = _payments[paymentSeed % _payments.length];
        bytes memory body = abi.encode(_instruction(payment, IWorkflowOperator.Action(_bound(actionSeed, 1, 3))));
        uint256 kind = kindSeed % 4;
        address owner = kind == 0 ? stranger : workflowOwner;
        bytes10 name = WORKFLOW_NAME;
        if (kind == 1) name = "z9y8x7w6v5";
        bytes32 workflowId = kind == 2 ? keccak256("workflow v2") : WORKFLOW_ID;
        if (kind == 3) {
            _deliverRefused(
                "wrongWorkflow",
                operator,
                abi.encodePacked(_metadata(owner, name, workflowId), bytes1(0)),
                body,
                abi.encodeWithSelector(IWorkflowOperator.InvalidMetadata.selector)
            );
        } else {
            _deliverRefused(
                "wrongWorkflow",
                operator,
                _metadata(owner, name, workflowId),
                body,
                abi.encodeWithSelector(IWorkflowOperator.WrongWorkflow.selector, owner, name, workflowId)
            );
        }
    }

    /// @notice A report past its deadline.
    function expired(uint256 paymentSeed, uint256 actionSeed, uint256 agoSeed) external {
        if (_payments.length == 0) return;
        calls["expired"]++;
        Payment storage payment = _payments[paymentSeed % _payments.length];
        IWorkflowOperator.Instruction memory instruction =
            _instruction(payment, IWorkflowOperator.Action(_bound(actionSeed, 1, 3)));
        instruction.deadline = uint64(block.timestamp - _bound(agoSeed, 1, 1 days));
        _deliverRefused(
            "expired",
            operator,
            _metadata(workflowOwner, WORKFLOW_NAME, WORKFLOW_ID),
            abi.encode(instruction),
            abi.encodeWithSelector(IWorkflowOperator.ReportExpired.selector, instruction.deadline, block.timestamp)
        );
    }

    /// @notice A report for another chain or operator, delivered to the wrong operator, naming terms of another
    /// operator, of another version, or asking for no action.
    function wrongTarget(uint256 paymentSeed, uint256 actionSeed, uint256 kindSeed) external {
        if (_payments.length == 0) return;
        calls["wrongTarget"]++;
        Payment storage payment = _payments[paymentSeed % _payments.length];
        IWorkflowOperator.Instruction memory instruction =
            _instruction(payment, IWorkflowOperator.Action(_bound(actionSeed, 1, 3)));
        bytes memory metadata = _metadata(workflowOwner, WORKFLOW_NAME, WORKFLOW_ID);
        uint256 kind = kindSeed % 6;
        WorkflowOperator to = operator;
        bytes memory expected;
        if (kind == 0) {
            instruction.chainId = block.chainid + 1;
            expected = abi.encodeWithSelector(IWorkflowOperator.WrongTarget.selector, block.chainid + 1, operator);
        } else if (kind == 1) {
            instruction.operator = address(other);
            expected = abi.encodeWithSelector(IWorkflowOperator.WrongTarget.selector, block.chainid, other);
        } else if (kind == 2) {
            to = other;
            expected = abi.encodeWithSelector(IWorkflowOperator.WrongTarget.selector, block.chainid, operator);
        } else if (kind == 3) {
            // Meant for `other`, with terms that name `operator`: `other` is not their operator.
            to = other;
            instruction.operator = address(other);
            expected = abi.encodeWithSelector(IWorkflowOperator.NotTheOperator.selector, operator);
        } else if (kind == 4) {
            instruction.version = 2;
            expected = abi.encodeWithSelector(IWorkflowOperator.UnsupportedVersion.selector, uint8(2));
        } else {
            instruction.action = IWorkflowOperator.Action.None;
            expected = abi.encodeWithSelector(IWorkflowOperator.UnknownAction.selector);
        }
        if (kind == 5 && payment.ghost.action != IWorkflowOperator.Action.None) {
            expected = abi.encodeWithSelector(IWorkflowOperator.AlreadyActed.selector, payment.id, payment.ghost.action);
        }
        _deliverRefused("wrongTarget", to, metadata, abi.encode(instruction), expected);
    }

    /// @notice A valid report handed over by someone other than the forwarder.
    function notForwarder(uint256 paymentSeed, uint256 actionSeed) external {
        if (_payments.length == 0) return;
        calls["notForwarder"]++;
        Payment storage payment = _payments[paymentSeed % _payments.length];
        bytes memory body = abi.encode(_instruction(payment, IWorkflowOperator.Action(_bound(actionSeed, 1, 3))));
        bytes memory metadata = _metadata(workflowOwner, WORKFLOW_NAME, WORKFLOW_ID);
        vm.prank(stranger);
        try operator.onReport(metadata, body) {
            _predicted("notForwarder", false, true, "");
        } catch (bytes memory err) {
            _expectError(err, abi.encodeWithSelector(IWorkflowOperator.NotForwarder.selector, stranger));
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------------

    function _instruction(Payment storage payment, IWorkflowOperator.Action action)
        internal
        view
        returns (IWorkflowOperator.Instruction memory instruction)
    {
        instruction = IWorkflowOperator.Instruction({
            version: 1,
            chainId: block.chainid,
            operator: address(operator),
            action: action,
            terms: payment.terms,
            deadline: uint64(block.timestamp + 1 hours),
            data: ""
        });
        if (action == IWorkflowOperator.Action.PayInvoice) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(_issuerKey, payment.invoiceId);
            instruction.data = abi.encode(payment.invoice, abi.encodePacked(r, s, v));
        }
    }

    /// @dev The forwarder's metadata: workflow id, name, owner and a fresh report id.
    function _metadata(address owner, bytes10 name, bytes32 workflowId) internal returns (bytes memory) {
        // casting is safe: report ids only need to differ within a run, far fewer than 2**16 calls
        // forge-lint: disable-next-line(unsafe-typecast)
        return abi.encodePacked(workflowId, name, owner, bytes2(uint16(++_reports)));
    }

    /// @dev Delivers a valid report for a payment not yet acted on; predicts from the escrow's and the
    /// registry's state whether the escrow can carry it out, and books what moved.
    function _deliverValid(
        Payment storage payment,
        IWorkflowOperator.Action action,
        bytes memory metadata,
        bytes memory body
    ) internal {
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(payment.id);
        bool live = block.timestamp < payment.terms.authorizationExpiry;
        bool expected;
        if (action == IWorkflowOperator.Action.Capture) {
            expected = live && state.capturable != 0;
        } else if (action == IWorkflowOperator.Action.Void) {
            expected = state.capturable != 0;
        } else {
            expected = live && payment.invoice.amount <= state.capturable && block.timestamp <= payment.invoice.deadline
                && !registry.isPaid(payment.invoiceId);
        }
        bytes32 op = _reportOp(action);
        try operator.onReport(metadata, body) {
            if (!_predicted(op, expected, true, "")) return;
            payment.ghost.actions++;
            payment.ghost.action = action;
            _acceptedMetadata[payment.id] = metadata;
            _acceptedBody[payment.id] = body;
            _acceptedDeadline[payment.id] = abi.decode(body, (IWorkflowOperator.Instruction)).deadline;
            if (action == IWorkflowOperator.Action.Capture) payment.ghost.captured += state.capturable;
            else if (action == IWorkflowOperator.Action.Void) payment.ghost.voided += state.capturable;
            else payment.ghost.invoicePaid += payment.invoice.amount;
        } catch (bytes memory err) {
            _predicted(op, expected, false, err);
        }
    }

    function _reportOp(IWorkflowOperator.Action action) internal pure returns (bytes32) {
        if (action == IWorkflowOperator.Action.Capture) return "report: capture";
        if (action == IWorkflowOperator.Action.Void) return "report: void";
        return "report: payInvoice";
    }

    /// @dev Delivers a report `to` must refuse, and checks that it was refused with exactly `expected`.
    function _deliverRefused(
        bytes32 op,
        WorkflowOperator to,
        bytes memory metadata,
        bytes memory body,
        bytes memory expected
    ) internal {
        try to.onReport(metadata, body) {
            _predicted(op, false, true, "");
        } catch (bytes memory err) {
            _expectError(err, expected);
        }
    }

    function _expectError(bytes memory err, bytes memory expected) internal {
        if (keccak256(err) != keccak256(expected)) {
            mispredictions++;
            lastMisprediction = err;
        }
    }

    /// @dev Counts a success or a refusal (`err`) against the prediction; returns whether the call succeeded
    /// as predicted.
    function _predicted(bytes32 op, bool expected, bool succeeded, bytes memory err) internal returns (bool) {
        if (succeeded != expected) {
            mispredictions++;
            lastMisprediction = succeeded ? abi.encode(op) : err;
            return false;
        }
        if (succeeded) successes[op]++;
        return succeeded;
    }

    function _mint(address to, uint256 amount) internal {
        usdc.mint(to, amount);
        minted[to] += amount;
        totalMinted += amount;
    }
}
