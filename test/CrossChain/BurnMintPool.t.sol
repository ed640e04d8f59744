// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CrossChainStablecoin} from "../../contracts/tokens/CrossChainStablecoin.sol";
import {MockRMN, MockRampRouter} from "../mocks/MockCcipRamps.sol";
import {IBurnMintERC20} from "@chainlink/contracts-ccip/contracts/interfaces/IBurnMintERC20.sol";
import {Pool} from "@chainlink/contracts-ccip/contracts/libraries/Pool.sol";
import {RateLimiter} from "@chainlink/contracts-ccip/contracts/libraries/RateLimiter.sol";
import {BurnMintTokenPool} from "@chainlink/contracts-ccip/contracts/pools/BurnMintTokenPool.sol";
import {TokenPool} from "@chainlink/contracts-ccip/contracts/pools/TokenPool.sol";
import {
    RegistryModuleOwnerCustom
} from "@chainlink/contracts-ccip/contracts/tokenAdminRegistry/RegistryModuleOwnerCustom.sol";
import {TokenAdminRegistry} from "@chainlink/contracts-ccip/contracts/tokenAdminRegistry/TokenAdminRegistry.sol";
import {Test} from "forge-std/Test.sol";

/// @notice The payment token as a Cross-Chain Token with CCIP's own BurnMintTokenPool: registered through
/// the token admin registry's owner module, a lane with rate limits both ways, burn on the way out, mint
/// on the way in, and every refusal (rate limits, unknown pools, callers that are not ramps, curses, roles).
contract BurnMintPoolTest is Test {
    uint64 internal constant REMOTE = 3_478_487_238_524_512_106; // any chain selector
    uint128 internal constant CAPACITY = 100e6;
    uint128 internal constant RATE = 1e6; // 1 token a second

    CrossChainStablecoin internal token;
    BurnMintTokenPool internal pool;
    TokenAdminRegistry internal registry;
    RegistryModuleOwnerCustom internal module;
    MockRMN internal rmn;

    address internal owner = makeAddr("owner");
    address internal onRamp = makeAddr("onRamp");
    address internal offRamp = makeAddr("offRamp");
    address internal remotePool = makeAddr("remotePool");
    address internal remoteToken = makeAddr("remoteToken");
    address internal sender = makeAddr("sender");
    address internal receiver = makeAddr("receiver");

    function setUp() public {
        vm.warp(1_750_000_000);
        token = new CrossChainStablecoin("Quittance USD", "QUSD", "1", owner);
        rmn = new MockRMN();
        pool = new BurnMintTokenPool(
            IBurnMintERC20(address(token)), 6, address(0), address(rmn), address(new MockRampRouter(onRamp, offRamp))
        );
        registry = new TokenAdminRegistry();
        module = new RegistryModuleOwnerCustom(address(registry));
        registry.addRegistryModule(address(module));

        // The CCT registration flow: the token's owner registers itself as admin, accepts, sets the pool.
        vm.startPrank(owner);
        module.registerAdminViaOwner(address(token));
        registry.acceptAdminRole(address(token));
        registry.setPool(address(token), address(pool));
        token.setMintAndBurnRoles(address(pool), true);
        vm.stopPrank();

        bytes[] memory remotePools = new bytes[](1);
        remotePools[0] = abi.encode(remotePool);
        TokenPool.ChainUpdate[] memory lanes = new TokenPool.ChainUpdate[](1);
        lanes[0] = TokenPool.ChainUpdate({
            remoteChainSelector: REMOTE,
            remotePoolAddresses: remotePools,
            remoteTokenAddress: abi.encode(remoteToken),
            outboundRateLimiterConfig: RateLimiter.Config({isEnabled: true, capacity: CAPACITY, rate: RATE}),
            inboundRateLimiterConfig: RateLimiter.Config({isEnabled: true, capacity: CAPACITY, rate: RATE})
        });
        pool.applyChainUpdates(new uint64[](0), lanes);
    }

    function _burnIn(uint256 amount) internal view returns (Pool.LockOrBurnInV1 memory) {
        return Pool.LockOrBurnInV1({
            receiver: abi.encode(receiver),
            remoteChainSelector: REMOTE,
            originalSender: sender,
            amount: amount,
            localToken: address(token)
        });
    }

    function _mintIn(uint256 amount, address fromPool) internal view returns (Pool.ReleaseOrMintInV1 memory) {
        return Pool.ReleaseOrMintInV1({
            originalSender: abi.encode(sender),
            remoteChainSelector: REMOTE,
            receiver: receiver,
            sourceDenominatedAmount: amount,
            localToken: address(token),
            sourcePoolAddress: abi.encode(fromPool),
            sourcePoolData: "",
            offchainTokenData: ""
        });
    }

    /// @dev What the router does before the onRamp calls the pool: the tokens are in the pool.
    function _burn(uint256 amount) internal returns (Pool.LockOrBurnOutV1 memory out) {
        vm.prank(owner);
        token.mint(address(pool), amount);
        vm.prank(onRamp);
        out = pool.lockOrBurn(_burnIn(amount));
    }

    function test_registration_namesThePoolForTheToken() public view {
        assertEq(registry.getPool(address(token)), address(pool));
        assertEq(registry.getTokenConfig(address(token)).administrator, owner);
        assertTrue(pool.isSupportedToken(address(token)));
        assertTrue(pool.isSupportedChain(REMOTE));
        assertEq(token.getCCIPAdmin(), owner);
    }

    function test_registration_byAnyoneButTheOwner_reverts() public {
        CrossChainStablecoin other = new CrossChainStablecoin("Other", "OTH", "1", owner);
        vm.prank(sender);
        vm.expectRevert(
            abi.encodeWithSelector(RegistryModuleOwnerCustom.CanOnlySelfRegister.selector, owner, address(other))
        );
        module.registerAdminViaOwner(address(other));
    }

    function test_lockOrBurn_burnsAndNamesTheRemoteToken() public {
        uint256 supply = token.totalSupply();
        Pool.LockOrBurnOutV1 memory out = _burn(10e6);
        assertEq(out.destTokenAddress, abi.encode(remoteToken));
        assertEq(token.totalSupply(), supply, "minted into the pool, then burned");
        assertEq(token.balanceOf(address(pool)), 0);
    }

    function test_releaseOrMint_mintsToTheReceiver() public {
        vm.prank(offRamp);
        Pool.ReleaseOrMintOutV1 memory out = pool.releaseOrMint(_mintIn(10e6, remotePool));
        assertEq(out.destinationAmount, 10e6);
        assertEq(token.balanceOf(receiver), 10e6);
    }

    function test_outboundRateLimit_exhaustedThenRefilled() public {
        _burn(CAPACITY);
        vm.prank(owner);
        token.mint(address(pool), 5e6);
        vm.prank(onRamp);
        vm.expectRevert(abi.encodeWithSelector(RateLimiter.TokenRateLimitReached.selector, 1, 0, address(token)));
        pool.lockOrBurn(_burnIn(1e6));
        vm.warp(block.timestamp + 5);
        vm.prank(onRamp);
        pool.lockOrBurn(_burnIn(5e6));
    }

    function test_moreThanTheCapacity_isRefused() public {
        vm.prank(onRamp);
        vm.expectRevert(
            abi.encodeWithSelector(
                RateLimiter.TokenMaxCapacityExceeded.selector, CAPACITY, CAPACITY + 1, address(token)
            )
        );
        pool.lockOrBurn(_burnIn(CAPACITY + 1));
    }

    function test_inboundRateLimit_exhaustedThenRefilled() public {
        vm.startPrank(offRamp);
        pool.releaseOrMint(_mintIn(CAPACITY, remotePool));
        vm.expectRevert(abi.encodeWithSelector(RateLimiter.TokenRateLimitReached.selector, 2, 0, address(token)));
        pool.releaseOrMint(_mintIn(2e6, remotePool));
        vm.warp(block.timestamp + 2);
        pool.releaseOrMint(_mintIn(2e6, remotePool));
        vm.stopPrank();
        assertEq(token.balanceOf(receiver), CAPACITY + 2e6);
    }

    function test_anUnknownSourcePool_isRefused() public {
        address impostor = makeAddr("impostor");
        vm.prank(offRamp);
        vm.expectRevert(abi.encodeWithSelector(TokenPool.InvalidSourcePoolAddress.selector, abi.encode(impostor)));
        pool.releaseOrMint(_mintIn(1e6, impostor));
        assertEq(token.balanceOf(receiver), 0);
    }

    function test_callersThatAreNotRamps_areRefused() public {
        vm.prank(sender);
        vm.expectRevert(abi.encodeWithSelector(TokenPool.CallerIsNotARampOnRouter.selector, sender));
        pool.lockOrBurn(_burnIn(1e6));
        vm.prank(sender);
        vm.expectRevert(abi.encodeWithSelector(TokenPool.CallerIsNotARampOnRouter.selector, sender));
        pool.releaseOrMint(_mintIn(1e6, remotePool));
    }

    function test_aCursedLane_isRefused() public {
        rmn.setCursed(true);
        vm.prank(offRamp);
        vm.expectRevert(TokenPool.CursedByRMN.selector);
        pool.releaseOrMint(_mintIn(1e6, remotePool));
    }

    function test_roles_onlyGrantedAccountsMintAndBurn() public {
        vm.prank(sender);
        vm.expectRevert(abi.encodeWithSelector(CrossChainStablecoin.NotMinter.selector, sender));
        token.mint(sender, 1);
        vm.prank(sender);
        vm.expectRevert(abi.encodeWithSelector(CrossChainStablecoin.NotBurner.selector, sender));
        token.burn(1);
        vm.prank(owner);
        token.setMintAndBurnRoles(address(pool), false);
        vm.prank(offRamp);
        vm.expectRevert(abi.encodeWithSelector(CrossChainStablecoin.NotMinter.selector, address(pool)));
        pool.releaseOrMint(_mintIn(1e6, remotePool));
    }

    function test_burnFrom_RevertWhen_NotABurner() public {
        vm.prank(owner);
        token.mint(sender, 5e6);
        vm.prank(sender);
        assertTrue(token.approve(receiver, 5e6));
        vm.startPrank(receiver);
        vm.expectRevert(abi.encodeWithSelector(CrossChainStablecoin.NotBurner.selector, receiver));
        token.burnFrom(sender, 1);
        vm.expectRevert(abi.encodeWithSelector(CrossChainStablecoin.NotBurner.selector, receiver));
        token.burn(sender, 1);
        vm.stopPrank();
        assertEq(token.balanceOf(sender), 5e6);
    }

    function test_burnFrom_spendsTheAllowance() public {
        vm.prank(owner);
        token.mint(sender, 5e6);
        vm.prank(sender);
        assertTrue(token.approve(address(pool), 3e6));
        vm.startPrank(address(pool));
        token.burnFrom(sender, 2e6);
        token.burn(sender, 1e6);
        vm.expectRevert();
        token.burnFrom(sender, 1);
        vm.stopPrank();
        assertEq(token.balanceOf(sender), 2e6);
    }
}
