// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {VoucherChannels} from "../../contracts/channel/VoucherChannels.sol";
import {IVoucherChannels} from "../../contracts/interfaces/IVoucherChannels.sol";
import {VoucherChannelsHandler} from "./handlers/VoucherChannelsHandler.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Test} from "forge-std/Test.sol";
import {console2} from "forge-std/console2.sol";

/// @notice Invariants of the voucher channels against per-party ghost ledgers, over random opens, top-ups,
/// vouchers, batch claims (latest, stale, duplicate, forged), settlements (to the receiver or elsewhere),
/// blacklisting, withdrawal requests, withdrawals, closes, EIP-7702 delegations of the signers and time, in
/// three tokens of which one blacklists.
contract VoucherChannelsInvariantTest is Test {
    VoucherChannels internal channels;
    VoucherChannelsHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        channels = new VoucherChannels();
        handler = new VoucherChannelsHandler(channels);
        targetContract(address(handler));
    }

    /// @notice Per token, the contract holds exactly what was deposited less what went back to payers and what
    /// was paid to receivers; and that is what open channels still hold plus what is claimed and not paid.
    function invariant_perTokenConservation() public view {
        address[] memory tokens = handler.tokens();
        bytes32[] memory ids = handler.ids();
        address[] memory receivers = handler.receivers();
        for (uint256 t; t < tokens.length; ++t) {
            uint256 held = IERC20(tokens[t]).balanceOf(address(channels));
            assertEq(
                held,
                handler.totalDeposited(tokens[t]) - handler.totalRefunded(tokens[t]) - handler.totalSettled(tokens[t]),
                "held = deposited - refunded - settled"
            );
            uint256 owed;
            for (uint256 i; i < ids.length; ++i) {
                if (handler.configAt(i).token != tokens[t]) continue;
                IVoucherChannels.ChannelState memory state = channels.channel(ids[i]);
                if (!state.closed) owed += state.balance - state.totalClaimed;
            }
            for (uint256 r; r < receivers.length; ++r) {
                owed += channels.claimedUnsettled(receivers[r], tokens[t]);
            }
            assertEq(held, owed, "held = open balances + unsettled claims");
        }
    }

    /// @notice Every channel is as the model says; nothing is claimed beyond its balance nor beyond the highest
    /// voucher its payer signed; a closed channel refunded exactly its balance less what was claimed.
    function invariant_channelsFollowTheModel() public view {
        bytes32[] memory ids = handler.ids();
        for (uint256 i; i < ids.length; ++i) {
            IVoucherChannels.ChannelState memory state = channels.channel(ids[i]);
            VoucherChannelsHandler.Model memory m = handler.model(ids[i]);
            assertEq(state.balance, m.balance, "balance");
            assertEq(state.totalClaimed, m.claimed, "totalClaimed");
            assertEq(state.withdrawableAt, m.withdrawableAt, "withdrawableAt");
            assertEq(state.closed, m.closed, "closed");
            assertLe(state.totalClaimed, state.balance, "claimed <= balance");
            assertLe(state.totalClaimed, m.highestSigned, "claimed <= highest signed voucher");
            if (state.closed) assertEq(m.refunded, state.balance - state.totalClaimed, "refund = balance - claimed");
            else assertEq(m.refunded, 0, "no refund while open");
        }
    }

    /// @notice A channel's `totalClaimed` never decreased from one call to the next.
    function invariant_claimsNeverDecrease() public view {
        assertEq(handler.decreases(), 0);
    }

    /// @notice Per receiver and token: it was paid at most what it claimed, what it claimed is the sum of its
    /// channels' claims, at most the sum of the highest vouchers their payers signed; the rest is unsettled.
    function invariant_receiversPaidAtMostWhatTheirPayersSigned() public view {
        address[] memory tokens = handler.tokens();
        address[] memory receivers = handler.receivers();
        bytes32[] memory ids = handler.ids();
        for (uint256 r; r < receivers.length; ++r) {
            for (uint256 t; t < tokens.length; ++t) {
                uint256 claimedOnChain;
                uint256 signed;
                for (uint256 i; i < ids.length; ++i) {
                    IVoucherChannels.ChannelConfig memory config = handler.configAt(i);
                    if (config.receiver != receivers[r] || config.token != tokens[t]) continue;
                    claimedOnChain += channels.channel(ids[i]).totalClaimed;
                    signed += handler.model(ids[i]).highestSigned;
                }
                uint256 claimed = handler.claimed(receivers[r], tokens[t]);
                uint256 paid = handler.paid(receivers[r], tokens[t]);
                assertEq(claimed, claimedOnChain, "ghost claims = chain claims");
                assertLe(claimed, signed, "claimed <= highest vouchers signed");
                assertLe(paid, claimed, "paid <= claimed");
                assertEq(channels.claimedUnsettled(receivers[r], tokens[t]), claimed - paid, "unsettled");
            }
        }
    }

    /// @notice Every party holds what its ghost ledger says: payers what they were minted less what they
    /// deposited plus their refunds; receivers and their treasuries exactly what settlements paid them.
    function invariant_partyBalancesMatchTheLedgers() public view {
        address[] memory tokens = handler.tokens();
        address[] memory payers = handler.payers();
        address[] memory receivers = handler.receivers();
        address[] memory treasuries = handler.treasuries();
        for (uint256 t; t < tokens.length; ++t) {
            IERC20 token = IERC20(tokens[t]);
            for (uint256 i; i < payers.length; ++i) {
                assertEq(
                    token.balanceOf(payers[i]),
                    handler.minted(payers[i], tokens[t]) - handler.deposited(payers[i], tokens[t])
                        + handler.refunded(payers[i], tokens[t]),
                    "payer"
                );
                assertEq(handler.received(payers[i], tokens[t]), handler.refunded(payers[i], tokens[t]), "payer in");
                assertEq(token.balanceOf(receivers[i]), handler.received(receivers[i], tokens[t]), "receiver");
                assertEq(token.balanceOf(treasuries[i]), handler.received(treasuries[i], tokens[t]), "treasury");
                assertEq(
                    handler.received(receivers[i], tokens[t]) + handler.received(treasuries[i], tokens[t]),
                    handler.paid(receivers[i], tokens[t]),
                    "what a receiver was paid went to it or its treasury"
                );
            }
        }
    }

    /// @notice Every call did what the model predicted: vouchers claimed whatever their signers' code, the
    /// withdrawal only after its delay (and never after a top-up without a fresh request), settlements refused
    /// only to blacklisted receivers.
    function invariant_noUnexpectedOutcome() public view {
        assertEq(handler.unexpected(), 0);
    }

    function invariant_callSummary() public view {
        string[13] memory ops = [
            "open",
            "topUp",
            "withdrawalCancelled",
            "signVoucher",
            "claimBatch",
            "settle",
            "settleTo",
            "blacklist",
            "requestWithdrawal",
            "withdraw",
            "close",
            "delegate",
            "warp"
        ];
        console2.log("channels", handler.ids().length);
        console2.log("forged vouchers skipped, stale skipped", handler.forgedSkipped(), handler.staleSkipped());
        for (uint256 i; i < ops.length; ++i) {
            console2.log(ops[i], handler.calls(ops[i]), handler.successes(ops[i]));
        }
    }
}
