// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IVoucherChannels} from "../../contracts/interfaces/IVoucherChannels.sol";
import {VoucherChannelsBase} from "../base/VoucherChannelsBase.sol";
import {ExecutorDelegate, RotatingKeyWallet, SwitchableSignerDelegate} from "../mocks/MockDelegates.sol";

/// @notice What a change of a voucher signer's code or key can do to vouchers already signed: nothing. Vouchers
/// are ECDSA signatures of the channel's authorizer (the payer, or its session key); an EIP-7702 delegation
/// keeps the key, so its vouchers stay claimable and a delegate's ERC-1271 answer is never asked.
contract VoucherChannelsSignersTest is VoucherChannelsBase {
    uint128 internal constant SIGNED = 7e6;

    ExecutorDelegate internal executor;
    SwitchableSignerDelegate internal switchable;

    function setUp() public override {
        super.setUp();
        executor = new ExecutorDelegate();
        switchable = new SwitchableSignerDelegate();
    }

    /// @dev The payer signs its own vouchers (no session key).
    function _selfSigned() internal view returns (IVoucherChannels.ChannelConfig memory config) {
        config = _config();
        config.payerAuthorizer = address(0);
    }

    function _openWithAllowance(IVoucherChannels.ChannelConfig memory config, uint128 amount)
        internal
        returns (bytes32 id)
    {
        vm.startPrank(payer);
        usdc.approve(address(channels), amount);
        id = channels.deposit(config, amount, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
    }

    /// @dev `account` (whose key is `key`) delegates to `target` by a real EIP-7702 authorization.
    function _delegate(address account, uint256 key, address target) internal {
        vm.signAndAttachDelegation(target, key);
        // The authorization takes effect with the next call; any call will do.
        (bool ok,) = account.call("");
        ok;
        assertEq(account.code, abi.encodePacked(hex"ef0100", target), "delegated");
    }

    /// @dev The H-1 scenario: the receiver holds a voucher for SIGNED; the payer asks to withdraw, then, just
    /// before the receiver claims, delegates its signing key to a contract without `isValidSignature`. The
    /// voucher is still claimed and the payer gets back only what it did not sign away.
    function _delegationBeforeTheClaim(IVoucherChannels.ChannelConfig memory config, address signer, uint256 key)
        internal
    {
        bytes32 id = _openWithAllowance(config, DEPOSIT);
        IVoucherChannels.VoucherClaim memory voucher = _voucher(config, SIGNED, key);
        vm.prank(payer);
        channels.requestWithdrawal(config);
        vm.warp(block.timestamp + DELAY - 1);

        _delegate(signer, key, address(executor));

        vm.expectEmit(address(channels));
        emit IVoucherChannels.Claimed(id, receiver, SIGNED, SIGNED);
        assertEq(_claim(voucher), SIGNED, "the signed voucher is claimed");
        vm.warp(block.timestamp + 1);
        vm.prank(payer);
        assertEq(channels.withdraw(config), DEPOSIT - SIGNED, "the payer gets only the unclaimed rest");
        assertEq(channels.settle(receiver, address(usdc)), SIGNED);
        assertEq(usdc.balanceOf(receiver), SIGNED);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE - SIGNED);
        assertEq(usdc.balanceOf(address(channels)), 0);
    }

    function test_signers_payerDelegatesToAnExecutorBeforeTheClaim_voucherStillClaimed() public {
        _delegationBeforeTheClaim(_selfSigned(), payer, payerKey);
    }

    function test_signers_sessionKeyDelegatesToAnExecutorBeforeTheClaim_voucherStillClaimed() public {
        _delegationBeforeTheClaim(_config(), session, sessionKey);
    }

    /// @dev A payer already delegated (a 7702 smart account) still signs its vouchers with its key.
    function test_signers_delegatedPayer_opensAndSignsWithItsKey() public {
        _delegate(payer, payerKey, address(executor));
        bytes32 id = _openWithAllowance(_selfSigned(), DEPOSIT);
        assertEq(_claim(_voucher(_selfSigned(), 2e6, payerKey)), 2e6);
        assertEq(channels.channel(id).totalClaimed, 2e6);
    }

    /// @dev A delegate that approves every digest by ERC-1271 cannot make a bogus voucher claimable.
    function test_signers_delegateApprovingEverything_bogusVoucherStillRefused() public {
        bytes32 id = _open(DEPOSIT);
        _delegate(session, sessionKey, address(switchable));
        SwitchableSignerDelegate(session).set(1, address(0));
        assertEq(
            SwitchableSignerDelegate(session).isValidSignature(bytes32(0), ""),
            SwitchableSignerDelegate.isValidSignature.selector
        );

        IVoucherChannels.VoucherClaim memory bogus = _voucher(_config(), DEPOSIT, payerKey);
        // The delegate is never asked: a claim calls no signer code (no gas griefing inside a batch either).
        vm.expectCall(session, abi.encodeWithSelector(SwitchableSignerDelegate.isValidSignature.selector), 0);
        vm.expectEmit(address(channels));
        emit IVoucherChannels.ClaimSkipped(id, IVoucherChannels.ClaimSkip.InvalidSignature);
        assertEq(_claim(bogus), 0);
        bogus.signature = hex"";
        assertEq(_claim(bogus), 0);
        bogus.signature = new bytes(65);
        assertEq(_claim(bogus), 0);
        assertEq(channels.channel(id).totalClaimed, 0);
    }

    /// @dev A delegate that refuses every digest by ERC-1271 cannot revoke a voucher the key signed.
    function test_signers_delegateRefusingEverything_voucherStillClaimed() public {
        bytes32 id = _open(DEPOSIT);
        IVoucherChannels.VoucherClaim memory voucher = _voucher(_config(), 4e6, sessionKey);
        _delegate(session, sessionKey, address(switchable));
        SwitchableSignerDelegate(session).set(0, address(0));
        assertEq(SwitchableSignerDelegate(session).isValidSignature(bytes32(0), ""), bytes4(0));
        vm.expectCall(session, abi.encodeWithSelector(SwitchableSignerDelegate.isValidSignature.selector), 0);

        assertEq(_claim(voucher), 4e6);
        assertEq(channels.channel(id).totalClaimed, 4e6);
    }

    /// @dev Redelegating, or clearing the delegation, between vouchers changes nothing either.
    function test_signers_delegationChangedBetweenVouchers_everyVoucherClaimed() public {
        bytes32 id = _open(DEPOSIT);
        assertEq(_claim(_voucher(_config(), 1e6, sessionKey)), 1e6);
        _delegate(session, sessionKey, address(switchable));
        assertEq(_claim(_voucher(_config(), 2e6, sessionKey)), 1e6);
        _delegate(session, sessionKey, address(executor));
        assertEq(_claim(_voucher(_config(), 3e6, sessionKey)), 1e6);
        vm.signAndAttachDelegation(address(0), sessionKey);
        (bool ok,) = session.call("");
        ok;
        assertEq(session.code.length, 0, "delegation cleared");
        assertEq(_claim(_voucher(_config(), 4e6, sessionKey)), 1e6);
        assertEq(channels.channel(id).totalClaimed, 4e6);
    }

    // ---------------------------------------------------------------------------------------------------
    // M-1: contract signers are refused; nothing relies on an ERC-1271 answer, so a key rotation revokes nothing
    // ---------------------------------------------------------------------------------------------------

    function test_signers_rotatingKeyWalletAsAuthorizer_isRefusedAtDeposit() public {
        RotatingKeyWallet wallet = new RotatingKeyWallet(session);
        IVoucherChannels.ChannelConfig memory config = _config();
        config.payerAuthorizer = address(wallet);
        vm.startPrank(payer);
        usdc.approve(address(channels), DEPOSIT);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.ContractAuthorizer.selector, address(wallet)));
        channels.deposit(config, DEPOSIT, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
        // Whoever submits it, whatever the method.
        bytes memory data = _authorizationData(_channelId(config), DEPOSIT, keccak256("deposit-1"));
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.ContractAuthorizer.selector, address(wallet)));
        channels.deposit(config, DEPOSIT, IVoucherChannels.Method.Authorization, data);
        assertEq(usdc.balanceOf(payer), INITIAL_BALANCE);
    }

    /// @dev A smart-wallet payer that signs nothing itself (no session key) could never have a voucher claimed.
    function test_signers_contractPayerWithoutAuthorizer_isRefusedAtDeposit() public {
        RotatingKeyWallet wallet = new RotatingKeyWallet(session);
        vm.prank(owner);
        usdc.mint(address(wallet), DEPOSIT);
        IVoucherChannels.ChannelConfig memory config = _selfSigned();
        config.payer = address(wallet);
        vm.startPrank(address(wallet));
        usdc.approve(address(channels), DEPOSIT);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.ContractAuthorizer.selector, address(wallet)));
        channels.deposit(config, DEPOSIT, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
    }

    /// @dev The way for a smart wallet: it pays, an EOA session key signs; rotating the wallet's own key
    /// changes nothing for vouchers already signed.
    function test_signers_contractPayerWithASessionKey_vouchersClaimedWhateverTheWalletDoes() public {
        RotatingKeyWallet wallet = new RotatingKeyWallet(makeAddr("wallet key"));
        vm.prank(owner);
        usdc.mint(address(wallet), DEPOSIT);
        IVoucherChannels.ChannelConfig memory config = _config();
        config.payer = address(wallet);
        vm.startPrank(address(wallet));
        usdc.approve(address(channels), DEPOSIT);
        bytes32 id = channels.deposit(config, DEPOSIT, IVoucherChannels.Method.Allowance, "");
        vm.stopPrank();
        IVoucherChannels.VoucherClaim memory voucher = _voucher(config, 6e6, sessionKey);
        wallet.rotate(makeAddr("another wallet key"));
        assertEq(_claim(voucher), 6e6);
        assertEq(channels.channel(id).totalClaimed, 6e6);
    }

    /// @dev A counterfactual wallet named as authorizer cannot be detected at deposit (it has no code yet). Once
    /// deployed, its owner key's vouchers are refused, before and after a rotation: no voucher ever depended on
    /// its answer, and the payer gets back everything unclaimed.
    function test_signers_counterfactualWalletAuthorizer_rotationRevokesNothing() public {
        (address walletKey, uint256 walletKeySecret) = makeAddrAndKey("wallet key");
        address counterfactual = makeAddr("counterfactual wallet");
        IVoucherChannels.ChannelConfig memory config = _config();
        config.payerAuthorizer = counterfactual;
        bytes32 id = _openWithAllowance(config, DEPOSIT);

        // The wallet is deployed at its address, its key set.
        vm.etch(counterfactual, address(new RotatingKeyWallet(walletKey)).code);
        RotatingKeyWallet(counterfactual).rotate(walletKey);
        IVoucherChannels.VoucherClaim memory voucher = _voucher(config, 5e6, walletKeySecret);
        assertEq(
            RotatingKeyWallet(counterfactual).isValidSignature(channels.voucherDigest(id, 5e6), voucher.signature),
            RotatingKeyWallet.isValidSignature.selector,
            "the wallet would approve it"
        );
        vm.expectEmit(address(channels));
        emit IVoucherChannels.ClaimSkipped(id, IVoucherChannels.ClaimSkip.InvalidSignature);
        assertEq(_claim(voucher), 0);
        RotatingKeyWallet(counterfactual).rotate(makeAddr("new wallet key"));
        assertEq(_claim(voucher), 0);

        // No more deposits into it now that its authorizer is a contract.
        vm.startPrank(payer);
        usdc.approve(address(channels), 1);
        vm.expectRevert(abi.encodeWithSelector(IVoucherChannels.ContractAuthorizer.selector, counterfactual));
        channels.deposit(config, 1, IVoucherChannels.Method.Allowance, "");
        channels.requestWithdrawal(config);
        vm.warp(block.timestamp + DELAY);
        assertEq(channels.withdraw(config), DEPOSIT);
        vm.stopPrank();
    }

    /// @dev A session key delegated (EIP-7702) to a rotating-key wallet: the wallet's key rotation neither
    /// revokes the session key's vouchers nor makes the wallet key's vouchers valid.
    function test_signers_sessionKeyDelegatedToARotatingWallet_rotationRevokesNothing() public {
        (address walletKey, uint256 walletKeySecret) = makeAddrAndKey("wallet key");
        bytes32 id = _open(DEPOSIT);
        IVoucherChannels.VoucherClaim memory first = _voucher(_config(), 2e6, sessionKey);
        _delegate(session, sessionKey, address(new RotatingKeyWallet(address(0))));
        RotatingKeyWallet(session).rotate(walletKey);

        assertEq(_claim(_voucher(_config(), 9e6, walletKeySecret)), 0, "the wallet key signs nothing here");
        assertEq(_claim(first), 2e6);
        RotatingKeyWallet(session).rotate(makeAddr("new wallet key"));
        assertEq(_claim(_voucher(_config(), 3e6, sessionKey)), 1e6);
        assertEq(channels.channel(id).totalClaimed, 3e6);
    }
}
