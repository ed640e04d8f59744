// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {PaymentEscrow} from "../../../contracts/escrow/PaymentEscrow.sol";
import {IInvoiceRegistry} from "../../../contracts/interfaces/IInvoiceRegistry.sol";
import {IPaymentEscrow} from "../../../contracts/interfaces/IPaymentEscrow.sol";
import {TestStablecoin} from "../../../contracts/tokens/TestStablecoin.sol";
import {MockBlacklistToken} from "../../mocks/MockBlacklistToken.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

/// @notice Drives the escrow through many payments among a few payers, operators and payees, with bounded
/// inputs, and keeps a ghost ledger of what every payment should hold. Two tokens: the EIP-3009 test
/// stable-coin (authorized by EIP-3009, permit or allowance) and a blacklisting token (allowance only) whose
/// blacklist the handler toggles, so that payouts get deferred to `owed` and withdrawn later. Half the
/// payments name an invoice in the escrow's (real) registry, which the operator may pay with
/// `captureInvoice`; the operator also tries to pay invoices the payer never named.
/// @dev Every operation computes whether it must succeed; a call that fails although it should have
/// succeeded, or succeeds although it should have failed, is counted and checked to be zero by the invariant
/// suite (the invariant runner itself ignores reverts).
contract PaymentEscrowHandler is CommonBase, StdCheats, StdUtils {
    /// @notice The ghost record of one payment.
    struct Ghost {
        uint256 authorized;
        uint256 captured;
        uint256 fees;
        uint256 returned;
        uint256 refunded;
        uint256 authorizations;
        uint256 capturesAfterClose;
        uint256 invoicePayments;
        bool closed;
    }

    /// @notice The ghost totals of one token.
    struct TokenGhost {
        uint256 authorized;
        uint256 captured;
        uint256 paidToPayees;
        uint256 paidToFeeReceivers;
        uint256 deferredAtCapture;
        uint256 returnedToPayers;
        uint256 deferredAtReturn;
        uint256 withdrawn;
    }

    uint256 internal constant MAX_PAYMENTS = 32;
    uint256 internal constant MAX_AMOUNT = 1_000_000e6;
    uint256 internal constant PAYEE = 0;
    uint256 internal constant FEE = 1;
    uint256 internal constant PAYER = 2;
    uint256 internal constant CAPTURABLE = 0;
    uint256 internal constant HOLDING = 1;
    uint256 internal constant REFUNDABLE = 2;

    PaymentEscrow public immutable escrow;
    IInvoiceRegistry public immutable registry;
    address public immutable issuer;
    uint256 internal immutable _issuerKey;
    TestStablecoin public immutable usdc;
    MockBlacklistToken public immutable blk;
    address public immutable sink;

    address[] internal _payers;
    uint256[] internal _payerKeys;
    address[] internal _operators;
    address[] internal _payees;
    address[] internal _feeReceivers;
    address[] internal _actors;

    IPaymentEscrow.PaymentTerms[] internal _terms;
    bytes32[] internal _ids;
    mapping(bytes32 id => IInvoiceRegistry.Invoice invoice) internal _invoices;
    /// @notice Invoices the operator presented although the payer never named them (each must stay unpaid).
    bytes32[] public strayInvoices;
    mapping(bytes32 id => Ghost ghost) internal _ghosts;
    mapping(address token => TokenGhost ghost) internal _tokenGhosts;
    mapping(address token => mapping(address recipient => uint256 amount)) public ghostOwed;

    uint256 public unexpectedFailures;
    uint256 public unexpectedSuccesses;
    uint256 public balanceMismatches;
    bytes public lastUnexpected;

    mapping(bytes32 op => uint256 count) public calls;
    mapping(bytes32 op => uint256 count) public successes;

    constructor(PaymentEscrow escrow_) {
        escrow = escrow_;
        registry = escrow_.registry();
        (issuer, _issuerKey) = makeAddrAndKey("issuer");
        usdc = new TestStablecoin("USD Coin", "USDC", "2", address(this));
        blk = new MockBlacklistToken(address(this));
        sink = makeAddr("sink");
        for (uint256 i; i < 3; ++i) {
            (address payer, uint256 key) = makeAddrAndKey(string.concat("payer", vm.toString(i)));
            _payers.push(payer);
            _payerKeys.push(key);
            _payees.push(makeAddr(string.concat("payee", vm.toString(i))));
            _actors.push(payer);
            _actors.push(_payees[i]);
        }
        for (uint256 i; i < 2; ++i) {
            _operators.push(makeAddr(string.concat("operator", vm.toString(i))));
            _feeReceivers.push(makeAddr(string.concat("feeReceiver", vm.toString(i))));
            _actors.push(_operators[i]);
            _actors.push(_feeReceivers[i]);
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Views for the invariant suite
    // ---------------------------------------------------------------------------------------------------

    /// @notice One payment as the invariant suite sees it: id, the terms it checks against, and its ghost.
    struct PaymentView {
        bytes32 id;
        address token;
        uint256 maxAmount;
        uint256 maxFeeBps;
        address payer;
        bytes32 invoiceId;
        Ghost ghost;
    }

    function paymentCount() external view returns (uint256) {
        return _ids.length;
    }

    /// @notice Every payment with its ghost, in one call (the invariants run after every call: keep them cheap).
    function payments() external view returns (PaymentView[] memory list) {
        list = new PaymentView[](_ids.length);
        for (uint256 i; i < _ids.length; ++i) {
            list[i] = PaymentView({
                id: _ids[i],
                token: _terms[i].token,
                maxAmount: _terms[i].maxAmount,
                maxFeeBps: _terms[i].maxFeeBps,
                payer: _terms[i].payer,
                invoiceId: _terms[i].invoiceId,
                ghost: _ghosts[_ids[i]]
            });
        }
    }

    function strayInvoiceCount() external view returns (uint256) {
        return strayInvoices.length;
    }

    function tokenGhostOf(address token) external view returns (TokenGhost memory) {
        return _tokenGhosts[token];
    }

    /// @notice The ghost credits in `token` of every actor, in the order of `actors()`.
    function ghostOwedOf(address token) external view returns (uint256[] memory list) {
        list = new uint256[](_actors.length);
        for (uint256 k; k < _actors.length; ++k) {
            list[k] = ghostOwed[token][_actors[k]];
        }
    }

    function actors() external view returns (address[] memory) {
        return _actors;
    }

    function tokens() external view returns (address[] memory list) {
        list = new address[](2);
        list[0] = address(usdc);
        list[1] = address(blk);
    }

    // ---------------------------------------------------------------------------------------------------
    // Actions
    // ---------------------------------------------------------------------------------------------------

    /// @notice Opens a new payment with random terms and authorizes a first amount (or tops one up once the
    /// cap of payments is reached).
    function authorizeNew(uint256 actorSeed, uint256 amountSeed, uint256 termsSeed, uint256 methodSeed) external {
        if (_ids.length >= MAX_PAYMENTS) {
            topUp(actorSeed, amountSeed, methodSeed);
            return;
        }
        (IPaymentEscrow.PaymentTerms memory terms, IInvoiceRegistry.Invoice memory invoice) =
            _newTerms(actorSeed, amountSeed, termsSeed);
        bytes32 id = escrow.paymentId(terms);
        if (terms.invoiceId != bytes32(0)) _invoices[id] = invoice;
        _terms.push(terms);
        _ids.push(id);
        uint256 amount = _bound(uint256(keccak256(abi.encode(amountSeed, "amount"))), 1, terms.maxAmount);
        _authorize(terms, id, amount, methodSeed);
    }

    /// @notice Tops up an existing payment; fails (as it must) once the payment is closed, full or past its
    /// pre-approval expiry.
    function topUp(uint256 paymentSeed, uint256 amountSeed, uint256 methodSeed) public {
        if (_ids.length == 0) return;
        uint256 i = paymentSeed % _ids.length;
        IPaymentEscrow.PaymentTerms memory terms = _terms[i];
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(_ids[i]);
        uint256 room = terms.maxAmount - state.capturable;
        uint256 amount = _bound(amountSeed, 1, room == 0 ? 1 : room);
        _authorize(terms, _ids[i], amount, methodSeed);
    }

    /// @notice Captures a random part of what is capturable, with a random fee within the signed bound.
    function capture(uint256 paymentSeed, uint256 amountSeed, uint256 feeSeed, uint256 receiverSeed) external {
        if (_ids.length == 0) return;
        calls["capture"]++;
        uint256 i = _find(paymentSeed, CAPTURABLE);
        IPaymentEscrow.PaymentTerms memory terms = _terms[i];
        bytes32 id = _ids[i];
        uint256 capturable = escrow.paymentState(id).capturable;
        uint256 amount = _bound(amountSeed, 1, capturable == 0 ? 1 : capturable);
        uint256 fee = _bound(feeSeed, 0, amount * terms.maxFeeBps / 10_000);
        address feeReceiver = terms.feeReceiver;
        if (feeReceiver == address(0) && (fee != 0 || receiverSeed % 2 == 0)) {
            feeReceiver = _feeReceivers[receiverSeed % _feeReceivers.length];
        }
        bool expected = block.timestamp < terms.authorizationExpiry && amount <= capturable;

        uint256 payeeBefore = IERC20(terms.token).balanceOf(terms.payee);
        uint256 feeBefore = feeReceiver == address(0) ? 0 : IERC20(terms.token).balanceOf(feeReceiver);
        vm.prank(terms.operator);
        try escrow.capture(terms, amount, fee, feeReceiver) {
            if (!_succeeded("capture", expected)) return;
            _recordCapture(terms, id, amount, fee);
            _recordPayout(terms.token, terms.payee, amount - fee, payeeBefore, PAYEE);
            if (fee != 0) _recordPayout(terms.token, feeReceiver, fee, feeBefore, FEE);
        } catch (bytes memory err) {
            _failed(expected, err);
        }
    }

    /// @notice The operator pays an invoice from a payment: the one its terms name (with a random fee within
    /// the signed bound), or, one time in four or when the terms name none, another invoice to the same payee
    /// in the same token, which must fail and stay unpaid.
    function captureInvoice(uint256 paymentSeed, uint256 feeSeed, uint256 receiverSeed, uint256 straySeed) external {
        if (_ids.length == 0) return;
        uint256 i = _findUnpaidInvoice(paymentSeed);
        IPaymentEscrow.PaymentTerms memory terms = _terms[i];
        bytes32 id = _ids[i];
        if (terms.invoiceId == bytes32(0) || straySeed % 4 == 0) {
            _captureStrayInvoice(terms, straySeed);
            return;
        }
        calls["captureInvoice"]++;
        IInvoiceRegistry.Invoice memory invoice = _invoices[id];
        uint256 fee = _bound(feeSeed, 0, invoice.amount * terms.maxFeeBps / 10_000);
        address feeReceiver = terms.feeReceiver;
        if (feeReceiver == address(0) && (fee != 0 || receiverSeed % 2 == 0)) {
            feeReceiver = _feeReceivers[receiverSeed % _feeReceivers.length];
        }
        uint256 capturable = escrow.paymentState(id).capturable;
        bool expected = block.timestamp < terms.authorizationExpiry && invoice.amount + fee <= capturable
            && block.timestamp <= invoice.deadline && !registry.isPaid(terms.invoiceId)
            && !_blacklisted(terms.token, terms.payee);

        uint256 payeeBefore = IERC20(terms.token).balanceOf(terms.payee);
        uint256 feeBefore = feeReceiver == address(0) ? 0 : IERC20(terms.token).balanceOf(feeReceiver);
        bytes memory signature = _signInvoice(invoice);
        vm.prank(terms.operator);
        try escrow.captureInvoice(terms, invoice, signature, fee, feeReceiver) returns (bytes32 invoiceId) {
            if (!_succeeded("captureInvoice", expected)) return;
            if (invoiceId != terms.invoiceId) balanceMismatches++;
            _recordCapture(terms, id, invoice.amount + fee, fee);
            _ghosts[id].invoicePayments++;
            _recordPayout(terms.token, terms.payee, invoice.amount, payeeBefore, PAYEE);
            if (fee != 0) _recordPayout(terms.token, feeReceiver, fee, feeBefore, FEE);
        } catch (bytes memory err) {
            _failed(expected, err);
        }
    }

    /// @dev An invoice to the payment's payee in its token that its terms do not name: must not be paid.
    function _captureStrayInvoice(IPaymentEscrow.PaymentTerms memory terms, uint256 straySeed) internal {
        calls["captureStrayInvoice"]++;
        IInvoiceRegistry.Invoice memory stray = _invoiceFor(terms, straySeed, keccak256(abi.encode("stray", straySeed)));
        bytes32 strayId = registry.invoiceId(stray);
        strayInvoices.push(strayId);
        bytes memory signature = _signInvoice(stray);
        vm.prank(terms.operator);
        try escrow.captureInvoice(terms, stray, signature, 0, address(0)) {
            unexpectedSuccesses++;
            lastUnexpected = abi.encode("captureStrayInvoice", strayId);
        } catch {
            successes["captureStrayInvoice"]++;
        }
    }

    /// @notice Attempts a capture that must fail: too much, too high a fee, the wrong caller or the wrong fee
    /// receiver. On a closed payment any capture must fail.
    function captureInvalid(uint256 paymentSeed, uint256 kindSeed) external {
        if (_ids.length == 0) return;
        calls["captureInvalid"]++;
        uint256 i = paymentSeed % _ids.length;
        IPaymentEscrow.PaymentTerms memory terms = _terms[i];
        bytes32 id = _ids[i];
        uint256 capturable = escrow.paymentState(id).capturable;
        uint256 amount = capturable == 0 ? 1 : capturable;
        uint256 fee;
        address caller = terms.operator;
        address feeReceiver = _feeReceivers[0];
        uint256 kind = kindSeed % 4;
        if (kind == 0) {
            amount = capturable + 1;
        } else if (kind == 1) {
            fee = amount * terms.maxFeeBps / 10_000 + 1;
        } else if (kind == 2) {
            caller = terms.payee;
        } else {
            fee = amount * terms.maxFeeBps / 10_000;
            feeReceiver = terms.feeReceiver == address(0) ? (fee == 0 ? sink : address(0)) : sink;
            if (fee == 0 && terms.feeReceiver == address(0)) amount = capturable + 1;
        }
        vm.prank(caller);
        try escrow.capture(terms, amount, fee, feeReceiver) {
            unexpectedSuccesses++;
            lastUnexpected = abi.encode("captureInvalid", kind);
            _recordCapture(terms, id, amount, fee);
        } catch {
            successes["captureInvalid"]++;
        }
    }

    /// @notice The operator voids what is left; the payer gets it (or a credit when blacklisted).
    function voidPayment(uint256 paymentSeed) external {
        if (_ids.length == 0) return;
        calls["void"]++;
        uint256 i = _find(paymentSeed, HOLDING);
        IPaymentEscrow.PaymentTerms memory terms = _terms[i];
        uint256 capturable = escrow.paymentState(_ids[i]).capturable;
        uint256 payerBefore = IERC20(terms.token).balanceOf(terms.payer);
        vm.prank(terms.operator);
        try escrow.void(terms) {
            if (!_succeeded("void", capturable != 0)) return;
            _recordReturn(terms, _ids[i], capturable, payerBefore);
        } catch (bytes memory err) {
            _failed(capturable != 0, err);
        }
    }

    /// @notice The payer reclaims what is left, warping past the authorization expiry first if needed.
    function reclaim(uint256 paymentSeed, uint256 extraSeconds) external {
        if (_ids.length == 0) return;
        calls["reclaim"]++;
        uint256 i = _find(paymentSeed, HOLDING);
        IPaymentEscrow.PaymentTerms memory terms = _terms[i];
        if (block.timestamp < terms.authorizationExpiry) {
            vm.warp(uint256(terms.authorizationExpiry) + _bound(extraSeconds, 0, 1 hours));
        }
        uint256 capturable = escrow.paymentState(_ids[i]).capturable;
        uint256 payerBefore = IERC20(terms.token).balanceOf(terms.payer);
        vm.prank(terms.payer);
        try escrow.reclaim(terms) {
            if (!_succeeded("reclaim", capturable != 0)) return;
            _recordReturn(terms, _ids[i], capturable, payerBefore);
        } catch (bytes memory err) {
            _failed(capturable != 0, err);
        }
    }

    /// @notice The operator or the payee refunds part of what was captured from its own (freshly minted and
    /// approved) funds.
    function refund(uint256 paymentSeed, uint256 amountSeed, bool byPayee) external {
        if (_ids.length == 0) return;
        calls["refund"]++;
        uint256 i = _find(paymentSeed, REFUNDABLE);
        IPaymentEscrow.PaymentTerms memory terms = _terms[i];
        uint256 refundable = escrow.paymentState(_ids[i]).refundable;
        uint256 amount = _bound(amountSeed, 1, refundable == 0 ? 1 : refundable);
        address refunder = byPayee ? terms.payee : terms.operator;
        bool expected = block.timestamp < terms.refundExpiry && amount <= refundable
            && !_blacklisted(terms.token, refunder) && !_blacklisted(terms.token, terms.payer);
        if (!_blacklisted(terms.token, refunder)) _mint(terms.token, refunder, amount);
        vm.prank(refunder);
        IERC20(terms.token).approve(address(escrow), amount);

        uint256 payerBefore = IERC20(terms.token).balanceOf(terms.payer);
        vm.prank(refunder);
        try escrow.refund(terms, amount) {
            if (!_succeeded("refund", expected)) return;
            _ghosts[_ids[i]].refunded += amount;
            if (IERC20(terms.token).balanceOf(terms.payer) != payerBefore + amount) balanceMismatches++;
        } catch (bytes memory err) {
            _failed(expected, err);
        }
    }

    /// @notice A recipient with a credit withdraws it, to itself or (when blacklisted) to a clean address. The
    /// first recipient with a credit from the seed on is chosen; without any, the withdrawal must fail.
    function withdraw(uint256 actorSeed, bool toSink) external {
        calls["withdraw"]++;
        uint256 slots = 2 * _actors.length;
        uint256 start = actorSeed % slots;
        uint256 slot = start;
        for (uint256 k; k < slots; ++k) {
            slot = (start + k) % slots;
            if (ghostOwed[_slotToken(slot)][_actors[slot / 2]] != 0) break;
        }
        address token = _slotToken(slot);
        address recipient = _actors[slot / 2];
        address to = toSink || _blacklisted(token, recipient) ? sink : recipient;
        uint256 amount = ghostOwed[token][recipient];
        bool expected = amount != 0 && !_blacklisted(token, to);
        uint256 toBefore = IERC20(token).balanceOf(to);
        vm.prank(recipient);
        try escrow.withdraw(token, to) {
            if (!_succeeded("withdraw", expected)) return;
            ghostOwed[token][recipient] = 0;
            _tokenGhosts[token].withdrawn += amount;
            if (IERC20(token).balanceOf(to) != toBefore + amount) balanceMismatches++;
        } catch (bytes memory err) {
            _failed(expected, err);
        }
    }

    /// @notice Blacklists or delists, in the blacklisting token, the payee, payer or fee receiver of a payment
    /// in that token (or any actor when there is none), so that its payouts get deferred. Two calls in three
    /// blacklist, one delists.
    function setBlacklisted(uint256 seed) external {
        calls["setBlacklisted"]++;
        successes["setBlacklisted"]++;
        address account = _actors[seed % _actors.length];
        uint256 start = _ids.length == 0 ? 0 : seed % _ids.length;
        for (uint256 k; k < _ids.length; ++k) {
            IPaymentEscrow.PaymentTerms storage terms = _terms[(start + k) % _ids.length];
            if (terms.token != address(blk)) continue;
            uint256 who = (seed / 7) % 3;
            account = who == 0 ? terms.payee : who == 1 ? terms.payer : _feeReceivers[(seed / 21) % 2];
            break;
        }
        blk.setBlacklisted(account, seed % 3 != 0);
    }

    /// @notice Moves time forward by up to two days.
    function warp(uint256 secondsSeed) external {
        calls["warp"]++;
        successes["warp"]++;
        vm.warp(block.timestamp + _bound(secondsSeed, 1, 2 days));
    }

    // ---------------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------------

    function _newTerms(uint256 actorSeed, uint256 amountSeed, uint256 termsSeed)
        internal
        view
        returns (IPaymentEscrow.PaymentTerms memory terms, IInvoiceRegistry.Invoice memory invoice)
    {
        uint256 r = uint256(keccak256(abi.encode(termsSeed)));
        terms.token = termsSeed % 2 == 1 ? address(blk) : address(usdc);
        terms.payer = _payers[actorSeed % _payers.length];
        terms.operator = _operators[(actorSeed / 3) % _operators.length];
        terms.payee = _payees[(actorSeed / 7) % _payees.length];
        terms.maxAmount = _bound(amountSeed, 1, MAX_AMOUNT);
        // casting is safe: block times stay far below 2**48
        // forge-lint: disable-next-line(unsafe-typecast)
        terms.preApprovalExpiry = uint48(block.timestamp + _bound(r, 1, 5 days));
        // forge-lint: disable-next-line(unsafe-typecast)
        terms.authorizationExpiry = uint48(terms.preApprovalExpiry + _bound(r >> 64, 0, 5 days));
        // forge-lint: disable-next-line(unsafe-typecast)
        terms.refundExpiry = uint48(terms.authorizationExpiry + _bound(r >> 128, 0, 5 days));
        uint256 feeKind = (r >> 192) % 4;
        // casting is safe: every value is at most 10_000
        // forge-lint: disable-next-line(unsafe-typecast)
        terms.maxFeeBps = uint16(feeKind == 0 ? 0 : feeKind == 3 ? 10_000 : _bound(r >> 200, 1, 2000));
        if ((r >> 240) % 2 == 1) terms.feeReceiver = _feeReceivers[(r >> 248) % _feeReceivers.length];
        terms.salt = bytes32(_ids.length);
        if ((r >> 252) % 2 == 1) {
            invoice = _invoiceFor(terms, r, terms.salt);
            terms.invoiceId = registry.invoiceId(invoice);
        }
    }

    /// @dev An invoice to the payee of `terms` in their token, of at most half their maximum (so that most
    /// payments hold enough for it), due within days.
    function _invoiceFor(IPaymentEscrow.PaymentTerms memory terms, uint256 seed, bytes32 salt)
        internal
        view
        returns (IInvoiceRegistry.Invoice memory)
    {
        return IInvoiceRegistry.Invoice({
            issuer: issuer,
            payee: terms.payee,
            token: terms.token,
            amount: _bound(seed >> 8, 1, terms.maxAmount / 2 + 1),
            deadline: block.timestamp + _bound(seed >> 32, 1 hours, 10 days),
            resource: keccak256(abi.encode("resource", salt)),
            network: registry.network(),
            salt: salt
        });
    }

    function _signInvoice(IInvoiceRegistry.Invoice memory invoice) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_issuerKey, registry.invoiceId(invoice));
        return abi.encodePacked(r, s, v);
    }

    function _authorize(IPaymentEscrow.PaymentTerms memory terms, bytes32 id, uint256 amount, uint256 methodSeed)
        internal
    {
        IPaymentEscrow.PaymentState memory state = escrow.paymentState(id);
        bool expected = !state.closed && block.timestamp < terms.preApprovalExpiry
            && state.capturable + amount <= terms.maxAmount && state.authorizations < type(uint8).max
            && !_blacklisted(terms.token, terms.payer);
        // The blacklisting token has neither EIP-3009 nor EIP-2612: allowance only.
        IPaymentEscrow.Method method =
            terms.token == address(blk) ? IPaymentEscrow.Method.Allowance : IPaymentEscrow.Method(methodSeed % 3);
        bytes32 op = "authorizeAllowance";
        if (method == IPaymentEscrow.Method.Authorization) op = "authorize3009";
        else if (method == IPaymentEscrow.Method.Permit) op = "authorizePermit";
        calls[op]++;
        if (!_blacklisted(terms.token, terms.payer)) _mint(terms.token, terms.payer, amount);

        bytes memory data;
        address caller = terms.payer;
        if (method == IPaymentEscrow.Method.Authorization) {
            data = _signReceive(terms, escrow.authorizationNonce(id, state.authorizations), amount);
            caller = terms.operator; // anyone may submit an EIP-3009 authorization
        } else if (method == IPaymentEscrow.Method.Permit) {
            data = _signPermit(terms, amount);
        } else {
            vm.prank(terms.payer);
            IERC20(terms.token).approve(address(escrow), amount);
        }

        vm.prank(caller);
        try escrow.authorize(terms, amount, method, data) returns (bytes32 returned) {
            if (!_succeeded(op, expected)) return;
            if (returned != id) balanceMismatches++;
            Ghost storage ghost = _ghosts[id];
            ghost.authorized += amount;
            ghost.authorizations++;
            _tokenGhosts[terms.token].authorized += amount;
            if (method == IPaymentEscrow.Method.Authorization) _replay(terms, amount, data);
        } catch (bytes memory err) {
            _failed(expected, err);
        }
    }

    /// @dev The same signed EIP-3009 authorization submitted again must not bring funds in a second time.
    function _replay(IPaymentEscrow.PaymentTerms memory terms, uint256 amount, bytes memory data) internal {
        calls["replay3009"]++;
        try escrow.authorize(terms, amount, IPaymentEscrow.Method.Authorization, data) {
            unexpectedSuccesses++;
            lastUnexpected = abi.encode("replay3009");
        } catch {
            successes["replay3009"]++;
        }
    }

    function _recordCapture(IPaymentEscrow.PaymentTerms memory terms, bytes32 id, uint256 amount, uint256 fee)
        internal
    {
        Ghost storage ghost = _ghosts[id];
        if (ghost.closed) ghost.capturesAfterClose++;
        ghost.captured += amount;
        ghost.fees += fee;
        _tokenGhosts[terms.token].captured += amount;
    }

    function _recordReturn(IPaymentEscrow.PaymentTerms memory terms, bytes32 id, uint256 amount, uint256 payerBefore)
        internal
    {
        Ghost storage ghost = _ghosts[id];
        ghost.returned += amount;
        ghost.closed = true;
        _recordPayout(terms.token, terms.payer, amount, payerBefore, PAYER);
    }

    /// @dev Books a payout out of escrow (kind: PAYEE, FEE or PAYER): paid directly unless the recipient is
    /// blacklisted, in which case it is credited; checks the recipient's balance moved accordingly.
    function _recordPayout(address token, address to, uint256 amount, uint256 before, uint256 kind) internal {
        TokenGhost storage tokenGhost = _tokenGhosts[token];
        uint256 received = IERC20(token).balanceOf(to) - before;
        if (_blacklisted(token, to)) {
            ghostOwed[token][to] += amount;
            if (kind == PAYER) tokenGhost.deferredAtReturn += amount;
            else tokenGhost.deferredAtCapture += amount;
            if (received != 0) balanceMismatches++;
        } else {
            if (kind == PAYEE) tokenGhost.paidToPayees += amount;
            else if (kind == FEE) tokenGhost.paidToFeeReceivers += amount;
            else tokenGhost.returnedToPayers += amount;
            if (received != amount) balanceMismatches++;
        }
    }

    function _signReceive(IPaymentEscrow.PaymentTerms memory terms, bytes32 nonce, uint256 amount)
        internal
        view
        returns (bytes memory)
    {
        uint256 validAfter = block.timestamp - 1;
        uint256 validBefore = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
                ),
                terms.payer,
                address(escrow),
                amount,
                validAfter,
                validBefore,
                nonce
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keyOf(terms.payer), _usdcDigest(structHash));
        return abi.encode(validAfter, validBefore, abi.encodePacked(r, s, v));
    }

    function _signPermit(IPaymentEscrow.PaymentTerms memory terms, uint256 amount)
        internal
        view
        returns (bytes memory)
    {
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                terms.payer,
                address(escrow),
                amount,
                usdc.nonces(terms.payer),
                deadline
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keyOf(terms.payer), _usdcDigest(structHash));
        return abi.encode(deadline, abi.encodePacked(r, s, v));
    }

    function _usdcDigest(bytes32 structHash) internal view returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("USD Coin"),
                keccak256("2"),
                block.chainid,
                address(usdc)
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }

    function _keyOf(address payer) internal view returns (uint256) {
        for (uint256 k; k < _payers.length; ++k) {
            if (_payers[k] == payer) return _payerKeys[k];
        }
        revert("unknown payer");
    }

    /// @dev The first payment from the seed on that the operation can act on (`CAPTURABLE`: holds funds
    /// before its authorization expiry; `HOLDING`: holds funds; `REFUNDABLE`: has refundable funds before its
    /// refund expiry), or the seed's payment when none can (the operation must then fail).
    function _find(uint256 seed, uint256 kind) internal view returns (uint256) {
        uint256 start = seed % _ids.length;
        for (uint256 k; k < _ids.length; ++k) {
            uint256 i = (start + k) % _ids.length;
            IPaymentEscrow.PaymentState memory state = escrow.paymentState(_ids[i]);
            if (kind == CAPTURABLE) {
                if (state.capturable != 0 && block.timestamp < _terms[i].authorizationExpiry) return i;
            } else if (kind == HOLDING) {
                if (state.capturable != 0) return i;
            } else if (state.refundable != 0 && block.timestamp < _terms[i].refundExpiry) {
                return i;
            }
        }
        return start;
    }

    /// @dev The first payment from the seed on whose terms name an unpaid invoice and that can capture, or
    /// else `_find(seed, CAPTURABLE)`.
    function _findUnpaidInvoice(uint256 seed) internal view returns (uint256) {
        uint256 start = seed % _ids.length;
        for (uint256 k; k < _ids.length; ++k) {
            uint256 i = (start + k) % _ids.length;
            bytes32 invoiceId = _terms[i].invoiceId;
            if (
                invoiceId != bytes32(0) && !registry.isPaid(invoiceId) && escrow.paymentState(_ids[i]).capturable != 0
                    && block.timestamp < _terms[i].authorizationExpiry
            ) return i;
        }
        return _find(seed, CAPTURABLE);
    }

    function _slotToken(uint256 slot) internal view returns (address) {
        return slot % 2 == 0 ? address(usdc) : address(blk);
    }

    function _blacklisted(address token, address account) internal view returns (bool) {
        return token == address(blk) && blk.isBlacklisted(account);
    }

    function _mint(address token, address to, uint256 amount) internal {
        if (token == address(usdc)) usdc.mint(to, amount);
        else blk.mint(to, amount);
    }

    /// @dev Books a successful call; returns false (and counts it) when it should have failed.
    function _succeeded(bytes32 op, bool expected) internal returns (bool) {
        if (!expected) {
            unexpectedSuccesses++;
            lastUnexpected = abi.encode(op);
            return false;
        }
        successes[op]++;
        return true;
    }

    function _failed(bool expected, bytes memory err) internal {
        if (expected) {
            unexpectedFailures++;
            lastUnexpected = err;
        }
    }
}
