// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {VoucherChannels} from "../../../contracts/channel/VoucherChannels.sol";
import {IVoucherChannels} from "../../../contracts/interfaces/IVoucherChannels.sol";
import {TestStablecoin} from "../../../contracts/tokens/TestStablecoin.sol";
import {MockBlacklistToken} from "../../mocks/MockBlacklistToken.sol";
import {ExecutorDelegate, SwitchableSignerDelegate} from "../../mocks/MockDelegates.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

/// @notice Drives voucher channels between three payers (each with a session key) and three receivers, in three
/// tokens of which one blacklists: opens, top-ups, vouchers signed off-chain, batches of claims over several
/// channels (the latest, stale, duplicate and forged vouchers), settlements to the receiver or elsewhere,
/// blacklisting, withdrawal requests, withdrawals, closes, EIP-7702 delegations of the signers mid-run, and time.
/// @dev Keeps a model of every channel (what the contract must hold) and per-party ghost ledgers (what each payer
/// deposited and got back, what each receiver claimed and was paid, what each address received). Every call's
/// outcome is predicted from the model before it is made; a different outcome is counted in `unexpected`, which
/// the invariant suite checks to be zero. After every call, every channel's `totalClaimed` is compared with the
/// previous one (`decreases`).
contract VoucherChannelsHandler is CommonBase, StdCheats, StdUtils {
    uint256 internal constant ACTORS = 3;
    uint256 internal constant MAX_CHANNELS = 16;
    uint128 internal constant MAX_AMOUNT = 1_000_000e6;

    /// @notice The model of a channel.
    struct Model {
        uint128 balance;
        uint128 claimed;
        uint40 withdrawableAt;
        bool closed;
        uint128 refunded;
        uint128 highestSigned;
    }

    VoucherChannels public immutable channels;
    address[] internal _tokens;
    MockBlacklistToken public immutable busd;
    ExecutorDelegate internal immutable _executor;
    SwitchableSignerDelegate internal immutable _switchable;

    address[] internal _payers;
    address[] internal _sessions;
    address[] internal _receivers;
    address[] internal _treasuries;
    mapping(address account => uint256 key) internal _keys;
    uint256 internal immutable _forgerKey;

    IVoucherChannels.ChannelConfig[] internal _configs;
    bytes32[] internal _ids;
    mapping(bytes32 id => Model) internal _model;
    mapping(bytes32 id => uint128[] amounts) internal _signed;
    mapping(bytes32 id => uint128 amount) internal _lastClaimed;

    // Ghost ledgers, per party and token.
    mapping(address payer => mapping(address token => uint256)) public minted;
    mapping(address payer => mapping(address token => uint256)) public deposited;
    mapping(address payer => mapping(address token => uint256)) public refunded;
    mapping(address receiver => mapping(address token => uint256)) public claimed;
    mapping(address receiver => mapping(address token => uint256)) public paid;
    mapping(address account => mapping(address token => uint256)) public received;
    // Per token.
    mapping(address token => uint256) public totalDeposited;
    mapping(address token => uint256) public totalRefunded;
    mapping(address token => uint256) public totalSettled;

    uint256 public unexpected;
    uint256 public decreases;
    mapping(string op => uint256) public calls;
    mapping(string op => uint256) public successes;
    uint256 public delegations;
    uint256 public forgedSkipped;
    uint256 public staleSkipped;

    modifier observe(string memory op) {
        ++calls[op];
        _;
        for (uint256 i; i < _ids.length; ++i) {
            uint128 now_ = channels.channel(_ids[i]).totalClaimed;
            if (now_ < _lastClaimed[_ids[i]]) ++decreases;
            _lastClaimed[_ids[i]] = now_;
        }
    }

    constructor(VoucherChannels channels_) {
        channels = channels_;
        _tokens.push(address(new TestStablecoin("USD Coin", "USDC", "2", address(this))));
        _tokens.push(address(new TestStablecoin("Euro Coin", "EURC", "2", address(this))));
        busd = new MockBlacklistToken(address(this));
        _tokens.push(address(busd));
        _executor = new ExecutorDelegate();
        _switchable = new SwitchableSignerDelegate();
        (, _forgerKey) = makeAddrAndKey("forger");
        for (uint256 i; i < ACTORS; ++i) {
            (address payer, uint256 payerKey) = makeAddrAndKey(string.concat("payer", vm.toString(i)));
            (address session, uint256 sessionKey) = makeAddrAndKey(string.concat("session", vm.toString(i)));
            _keys[payer] = payerKey;
            _keys[session] = sessionKey;
            _payers.push(payer);
            _sessions.push(session);
            _receivers.push(makeAddr(string.concat("receiver", vm.toString(i))));
            _treasuries.push(makeAddr(string.concat("treasury", vm.toString(i))));
            for (uint256 t; t < _tokens.length; ++t) {
                vm.prank(payer);
                IERC20(_tokens[t]).approve(address(channels), type(uint256).max);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Payers
    // ---------------------------------------------------------------------------------------------------

    /// @notice A payer opens a new channel to a receiver in a token, its vouchers signed by itself or its
    /// session key.
    function open(uint256 actors, uint256 tokenSeed, bool selfSigned, uint256 delay, uint128 amount)
        external
        observe("open")
    {
        if (_ids.length == MAX_CHANNELS) return;
        uint256 p = actors % ACTORS;
        // forge-lint: disable-next-line(unsafe-typecast)
        uint40 withdrawDelay = uint40(_bound(delay, 15 minutes, 2 hours));
        IVoucherChannels.ChannelConfig memory config = IVoucherChannels.ChannelConfig({
            payer: _payers[p],
            payerAuthorizer: selfSigned ? address(0) : _sessions[p],
            receiver: _receivers[(actors / ACTORS) % ACTORS],
            token: _tokens[tokenSeed % _tokens.length],
            withdrawDelay: withdrawDelay,
            salt: bytes32(_ids.length)
        });
        bytes32 id = channels.channelId(config);
        _configs.push(config);
        _ids.push(id);
        _deposit(_ids.length - 1, amount, "open");
    }

    /// @notice The payer adds to one of its channels: refused once closed, and cancels a pending withdrawal.
    function topUp(uint256 seed, uint128 amount) external observe("topUp") {
        if (_ids.length == 0) return;
        _deposit(seed % _ids.length, amount, "topUp");
    }

    function requestWithdrawal(uint256 seed) external observe("requestWithdrawal") {
        if (_ids.length == 0) return;
        (IVoucherChannels.ChannelConfig memory config, bytes32 id) = _pick(seed);
        Model storage m = _model[id];
        vm.prank(config.payer);
        try channels.requestWithdrawal(config) {
            if (m.closed) ++unexpected;
            if (m.withdrawableAt == 0) m.withdrawableAt = uint40(block.timestamp) + config.withdrawDelay;
            ++successes["requestWithdrawal"];
        } catch {
            if (!m.closed) ++unexpected;
        }
    }

    function withdraw(uint256 seed) external observe("withdraw") {
        if (_ids.length == 0) return;
        (IVoucherChannels.ChannelConfig memory config, bytes32 id) = _pick(seed);
        Model storage m = _model[id];
        bool ready = !m.closed && m.withdrawableAt != 0 && block.timestamp >= m.withdrawableAt;
        vm.prank(config.payer);
        try channels.withdraw(config) returns (uint256 amount) {
            if (!ready) ++unexpected;
            _closed(config, id, amount);
            ++successes["withdraw"];
        } catch {
            if (ready) ++unexpected;
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Signers
    // ---------------------------------------------------------------------------------------------------

    /// @notice A payer signs a new voucher off-chain: the next cumulative amount.
    function signVoucher(uint256 seed, uint128 increment) external observe("signVoucher") {
        if (_ids.length == 0) return;
        (, bytes32 id) = _pick(seed);
        Model storage m = _model[id];
        m.highestSigned += uint128(_bound(increment, 1, MAX_AMOUNT));
        _signed[id].push(m.highestSigned);
    }

    /// @notice A payer or a session key delegates (EIP-7702) to an executor without ERC-1271, to a delegate
    /// approving or refusing every digest, or clears its delegation. No voucher may change its fate.
    function delegate(uint256 who, uint256 what) external observe("delegate") {
        uint256 a = who % (2 * ACTORS);
        address account = a < ACTORS ? _payers[a] : _sessions[a - ACTORS];
        uint256 kind = what % 4;
        address target = kind == 0 ? address(0) : kind == 1 ? address(_executor) : address(_switchable);
        vm.signAndAttachDelegation(target, _keys[account]);
        // The authorization takes effect with the next call.
        (bool ok,) = account.call("");
        ok;
        // casting to 'uint8' is safe because kind < 4
        // forge-lint: disable-next-line(unsafe-typecast)
        if (kind >= 2) SwitchableSignerDelegate(account).set(uint8(kind - 2), address(0));
        if (kind == 0 ? account.code.length != 0 : account.code.length != 23) ++unexpected;
        ++delegations;
        ++successes["delegate"];
    }

    // ---------------------------------------------------------------------------------------------------
    // Receivers and anyone
    // ---------------------------------------------------------------------------------------------------

    /// @notice Anyone claims a batch of one to four vouchers: each the latest, a stale one or a forged one of a
    /// random channel (the same channel may come twice). The outcome of each is predicted in order.
    function claimBatch(uint256[4] calldata seeds, uint256 size) external observe("claimBatch") {
        if (_ids.length == 0) return;
        size = _bound(size, 1, 4);
        IVoucherChannels.VoucherClaim[] memory batch = new IVoucherChannels.VoucherClaim[](size);
        uint256 expected;
        for (uint256 i; i < size; ++i) {
            (IVoucherChannels.ChannelConfig memory config, bytes32 id) = _pick(seeds[i]);
            Model storage m = _model[id];
            uint128[] storage signed = _signed[id];
            uint256 kind = (seeds[i] >> 128) % 4;
            uint128 amount;
            uint256 key = _keys[config.payerAuthorizer == address(0) ? config.payer : config.payerAuthorizer];
            if (signed.length == 0 || kind == 3) {
                // Forged: signed by a key that is not the authorizer.
                amount = m.highestSigned + 1;
                key = _forgerKey;
            } else if (kind == 2) {
                amount = signed[_bound(seeds[i] >> 64, 0, signed.length - 1)];
            } else {
                amount = m.highestSigned;
            }
            batch[i] = _voucher(config, id, amount, key);
            if (m.closed) continue;
            uint128 claimable = amount < m.balance ? amount : m.balance;
            if (key == _forgerKey) {
                if (claimable > m.claimed) ++forgedSkipped;
                continue;
            }
            if (claimable <= m.claimed) {
                ++staleSkipped;
                continue;
            }
            uint128 more = claimable - m.claimed;
            m.claimed = claimable;
            claimed[config.receiver][config.token] += more;
            expected += more;
        }
        if (channels.claim(batch) != expected) ++unexpected;
        ++successes["claimBatch"];
    }

    /// @notice Anyone settles a receiver's claims in a token: refused while the token blacklists it.
    function settle(uint256 seed, uint256 tokenSeed) external observe("settle") {
        address receiver = _receivers[seed % ACTORS];
        address token = _tokens[tokenSeed % _tokens.length];
        uint256 owed = claimed[receiver][token] - paid[receiver][token];
        bool refused = owed != 0 && token == address(busd) && busd.isBlacklisted(receiver);
        try channels.settle(receiver, token) returns (uint256 amount) {
            if (refused || amount != owed) ++unexpected;
            _paid(receiver, token, receiver, amount);
            ++successes["settle"];
        } catch {
            if (!refused) ++unexpected;
        }
    }

    /// @notice A receiver takes its claims in a token to its treasury: works even while blacklisted.
    function settleTo(uint256 seed, uint256 tokenSeed) external observe("settleTo") {
        uint256 r = seed % ACTORS;
        address token = _tokens[tokenSeed % _tokens.length];
        uint256 owed = claimed[_receivers[r]][token] - paid[_receivers[r]][token];
        vm.prank(_receivers[r]);
        try channels.settleTo(token, _treasuries[r]) returns (uint256 amount) {
            if (amount != owed) ++unexpected;
            _paid(_receivers[r], token, _treasuries[r], amount);
            ++successes["settleTo"];
        } catch {
            ++unexpected;
        }
    }

    /// @notice The blacklisting token's owner adds or removes a receiver.
    function blacklist(uint256 seed, bool listed) external observe("blacklist") {
        busd.setBlacklisted(_receivers[seed % ACTORS], listed);
        ++successes["blacklist"];
    }

    /// @notice The receiver closes a channel; the payer gets the rest at once.
    function close(uint256 seed) external observe("close") {
        if (_ids.length == 0) return;
        (IVoucherChannels.ChannelConfig memory config, bytes32 id) = _pick(seed);
        bool open_ = !_model[id].closed;
        vm.prank(config.receiver);
        try channels.close(config) returns (uint256 amount) {
            if (!open_) ++unexpected;
            _closed(config, id, amount);
            ++successes["close"];
        } catch {
            if (open_) ++unexpected;
        }
    }

    function warp(uint256 seconds_) external observe("warp") {
        vm.warp(block.timestamp + _bound(seconds_, 1, 2 hours));
        ++successes["warp"];
    }

    // ---------------------------------------------------------------------------------------------------
    // Views for the invariants
    // ---------------------------------------------------------------------------------------------------

    function ids() external view returns (bytes32[] memory) {
        return _ids;
    }

    function configAt(uint256 i) external view returns (IVoucherChannels.ChannelConfig memory) {
        return _configs[i];
    }

    function model(bytes32 id) external view returns (Model memory) {
        return _model[id];
    }

    function tokens() external view returns (address[] memory) {
        return _tokens;
    }

    function payers() external view returns (address[] memory) {
        return _payers;
    }

    function receivers() external view returns (address[] memory) {
        return _receivers;
    }

    function treasuries() external view returns (address[] memory) {
        return _treasuries;
    }

    // ---------------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------------

    function _pick(uint256 seed) internal view returns (IVoucherChannels.ChannelConfig memory, bytes32) {
        uint256 c = seed % _ids.length;
        return (_configs[c], _ids[c]);
    }

    function _deposit(uint256 c, uint128 amount, string memory op) internal {
        IVoucherChannels.ChannelConfig memory config = _configs[c];
        bytes32 id = _ids[c];
        Model storage m = _model[id];
        amount = uint128(_bound(amount, 1, MAX_AMOUNT));
        _mint(config.token, config.payer, amount);
        bool cancels = m.withdrawableAt != 0;
        vm.prank(config.payer);
        try channels.deposit(config, amount, IVoucherChannels.Method.Allowance, "") returns (bytes32 got) {
            if (m.closed || got != id) ++unexpected;
            m.balance += amount;
            m.withdrawableAt = 0;
            deposited[config.payer][config.token] += amount;
            totalDeposited[config.token] += amount;
            ++successes[op];
            if (cancels) ++successes["withdrawalCancelled"];
        } catch {
            if (!m.closed) ++unexpected;
        }
    }

    function _mint(address token, address to, uint256 amount) internal {
        if (token == address(busd)) busd.mint(to, amount);
        else TestStablecoin(token).mint(to, amount);
        minted[to][token] += amount;
    }

    function _closed(IVoucherChannels.ChannelConfig memory config, bytes32 id, uint256 amount) internal {
        Model storage m = _model[id];
        if (amount != m.balance - m.claimed) ++unexpected;
        m.closed = true;
        // casting to 'uint128' is safe because a refund is at most a channel's balance
        // forge-lint: disable-next-line(unsafe-typecast)
        m.refunded = uint128(amount);
        refunded[config.payer][config.token] += amount;
        totalRefunded[config.token] += amount;
        received[config.payer][config.token] += amount;
    }

    function _paid(address receiver, address token, address to, uint256 amount) internal {
        paid[receiver][token] += amount;
        totalSettled[token] += amount;
        received[to][token] += amount;
    }

    function _voucher(IVoucherChannels.ChannelConfig memory config, bytes32 id, uint128 amount, uint256 key)
        internal
        view
        returns (IVoucherChannels.VoucherClaim memory)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, channels.voucherDigest(id, amount));
        return IVoucherChannels.VoucherClaim({
            config: config, maxClaimableAmount: amount, signature: abi.encodePacked(r, s, v)
        });
    }
}
