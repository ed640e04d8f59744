// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CrossChainInvoiceReceiver} from "../../../contracts/crosschain/CrossChainInvoiceReceiver.sol";
import {ICrossChainInvoice} from "../../../contracts/interfaces/ICrossChainInvoice.sol";
import {ICrossChainInvoiceReceiver} from "../../../contracts/interfaces/ICrossChainInvoiceReceiver.sol";
import {IInvoiceRegistry} from "../../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../../../contracts/registry/InvoiceRegistry.sol";
import {TestStablecoin} from "../../../contracts/tokens/TestStablecoin.sol";
import {Client} from "@chainlink/contracts-ccip/contracts/libraries/Client.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

/// @notice Plays the CCIP router (and the pool that mints on arrival) of a CrossChainInvoiceReceiver over a real
/// InvoiceRegistry and token, and the owner of both. Payers send payments of a few invoices (several of the
/// same invoice, some of the wrong amount, some from a sender that never was allowed); messages are delivered
/// in any order and late (invoices expire in flight), replayed, while the sender is retired and re-allowed
/// and while the receiver is removed as settler and restored; refunds are paid out or redirected. A ghost
/// ledger keeps where every delivered message's tokens went.
/// @dev A delivery mints and calls `ccipReceive` in one self-call, so a refused delivery mints nothing, as in
/// CCIP. Unexpected results are counted and checked to be zero by the suite.
contract CrossChainInvoiceReceiverHandler is CommonBase, StdCheats, StdUtils {
    uint64 internal constant SOURCE = 1111;
    uint256 internal constant INVOICES = 4;

    struct Message {
        Client.Any2EVMMessage message;
        uint256 invoice;
        bool delivered;
    }

    TestStablecoin public token;
    InvoiceRegistry public registry;
    CrossChainInvoiceReceiver public receiver;
    address public immutable sender = makeAddr("sender");
    address public immutable impostor = makeAddr("impostor");
    address public immutable payee = makeAddr("payee");
    address public immutable payer = makeAddr("payer");
    address public immutable issuer;
    uint256 internal immutable issuerKey;
    address[3] public refundTos = [makeAddr("refund0"), makeAddr("refund1"), makeAddr("refund2")];

    IInvoiceRegistry.Invoice[INVOICES] internal invoices;
    Message[] internal messages;

    // Ghost ledger.
    uint256 public minted;
    uint256 public paid;
    uint256 public refunded;
    uint256 public pendingRefunds;
    mapping(uint256 invoice => uint256) public paidCount;
    uint256 public unexpected;
    mapping(bytes32 => uint256) public calls;

    constructor() {
        (issuer, issuerKey) = makeAddrAndKey("issuer");
        token = new TestStablecoin("Quittance USD", "QUSD", "2", address(this));
        registry = new InvoiceRegistry(address(this));
        receiver = new CrossChainInvoiceReceiver(address(this), registry, address(this));
        registry.setSettler(address(receiver), IInvoiceRegistry.Path.CrossChain);
        receiver.setAllowedSender(SOURCE, sender, true);
        for (uint256 i = 0; i < INVOICES; ++i) {
            invoices[i] = IInvoiceRegistry.Invoice({
                issuer: issuer,
                payee: payee,
                token: address(token),
                amount: (i + 1) * 1e6,
                deadline: block.timestamp + (i + 1) * 1 hours,
                resource: keccak256(abi.encode("resource", i)),
                network: registry.network(),
                salt: bytes32(i)
            });
        }
    }

    function messageCount() external view returns (uint256) {
        return messages.length;
    }

    function messageAt(uint256 i) external view returns (bytes32 id, uint256 amount, bool delivered) {
        Message storage m = messages[i];
        return (m.message.messageId, m.message.destTokenAmounts[0].amount, m.delivered);
    }

    /// @notice A payer sends a payment of invoice `invoiceSeed` (of the wrong amount, or from the impostor, now
    /// and then).
    function send(uint256 invoiceSeed, uint256 kind, uint256 refundSeed) external {
        calls["send"]++;
        uint256 i = invoiceSeed % INVOICES;
        IInvoiceRegistry.Invoice memory invoice = invoices[i];
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(issuerKey, registry.invoiceId(invoice));
        kind %= 8;
        ICrossChainInvoice.CrossChainPayment memory p = ICrossChainInvoice.CrossChainPayment({
            invoice: invoice,
            issuerSignature: abi.encodePacked(r, s, v),
            payer: payer,
            refundTo: kind == 5 ? address(0) : refundTos[refundSeed % 3]
        });
        Client.EVMTokenAmount[] memory tokens = new Client.EVMTokenAmount[](1);
        tokens[0] = Client.EVMTokenAmount({token: address(token), amount: invoice.amount - (kind == 6 ? 1 : 0)});
        Message storage m = messages.push();
        m.invoice = i;
        m.message.messageId = keccak256(abi.encode("message", messages.length));
        m.message.sourceChainSelector = SOURCE;
        m.message.sender = abi.encode(kind == 7 ? impostor : sender);
        m.message.data = abi.encode(p);
        m.message.destTokenAmounts.push(tokens[0]);
    }

    /// @dev The router's execution: the pool mints, then the receiver is called; all or nothing.
    function executeAsRouter(Client.Any2EVMMessage calldata m) external {
        require(msg.sender == address(this));
        token.mint(address(receiver), m.destTokenAmounts[0].amount);
        receiver.ccipReceive(m);
    }

    /// @notice Delivers message `seed` (again, if it was delivered: a replay, which must be refused).
    function deliver(uint256 seed) external {
        if (messages.length == 0) return;
        calls["deliver"]++;
        Message storage m = messages[seed % messages.length];
        bytes32 id = m.message.messageId;
        address from = abi.decode(m.message.sender, (address));
        bool known = receiver.allowedSender(SOURCE, from) || receiver.retiredSender(SOURCE, from);
        bool allowed = receiver.allowedSender(SOURCE, from);
        uint256 amount = m.message.destTokenAmounts[0].amount;
        uint256 payeeBefore = token.balanceOf(payee);
        try this.executeAsRouter(m.message) {
            if (m.delivered || !known) unexpected++;
            m.delivered = true;
            minted += amount;
            ICrossChainInvoiceReceiver.Outcome outcome = receiver.received(id).outcome;
            if (outcome == ICrossChainInvoiceReceiver.Outcome.Paid) {
                if (!allowed || token.balanceOf(payee) != payeeBefore + amount) unexpected++;
                if (amount != invoices[m.invoice].amount) unexpected++;
                paid += amount;
                paidCount[m.invoice]++;
            } else if (outcome == ICrossChainInvoiceReceiver.Outcome.Refundable) {
                if (token.balanceOf(payee) != payeeBefore) unexpected++;
                pendingRefunds += amount;
            } else {
                unexpected++;
            }
        } catch {
            // Only a replay or a sender that never was allowed is refused.
            if (!m.delivered && known) unexpected++;
            calls["refused"]++;
        }
    }

    /// @notice Anyone pays out refund `seed`.
    function refund(uint256 seed) external {
        if (messages.length == 0) return;
        calls["refund"]++;
        bytes32 id = messages[seed % messages.length].message.messageId;
        ICrossChainInvoiceReceiver.Received memory r = receiver.received(id);
        try receiver.refund(id) {
            if (r.outcome != ICrossChainInvoiceReceiver.Outcome.Refundable) unexpected++;
            pendingRefunds -= r.amount;
            refunded += r.amount;
        } catch {
            if (r.outcome == ICrossChainInvoiceReceiver.Outcome.Refundable) unexpected++;
        }
    }

    /// @notice The refund address redirects refund `seed` to another refund address.
    function redirect(uint256 seed, uint256 toSeed) external {
        if (messages.length == 0) return;
        calls["redirect"]++;
        bytes32 id = messages[seed % messages.length].message.messageId;
        ICrossChainInvoiceReceiver.Received memory r = receiver.received(id);
        vm.prank(r.refundTo);
        try receiver.refundTo(id, refundTos[toSeed % 3]) {
            if (r.outcome != ICrossChainInvoiceReceiver.Outcome.Refundable) unexpected++;
            pendingRefunds -= r.amount;
            refunded += r.amount;
        } catch {
            if (r.outcome == ICrossChainInvoiceReceiver.Outcome.Refundable && r.refundTo != address(0)) unexpected++;
        }
    }

    /// @notice Time passes (invoices expire while messages are in flight).
    function warp(uint256 seconds_) external {
        calls["warp"]++;
        vm.warp(block.timestamp + bound(seconds_, 1, 2 hours));
    }

    /// @notice The owner retires or re-allows the sender.
    function setSender(bool allowed) external {
        calls["setSender"]++;
        receiver.setAllowedSender(SOURCE, sender, allowed);
    }

    /// @notice The registry's owner removes or restores the receiver as settler.
    function setSettler(bool allowed) external {
        calls["setSettler"]++;
        registry.setSettler(address(receiver), allowed ? IInvoiceRegistry.Path.CrossChain : IInvoiceRegistry.Path.None);
    }
}
