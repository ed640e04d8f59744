// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAny2EVMMessageReceiver} from "@chainlink/contracts-ccip/contracts/interfaces/IAny2EVMMessageReceiver.sol";
import {IPoolV1} from "@chainlink/contracts-ccip/contracts/interfaces/IPool.sol";
import {IRouterClient} from "@chainlink/contracts-ccip/contracts/interfaces/IRouterClient.sol";
import {ITokenAdminRegistry} from "@chainlink/contracts-ccip/contracts/interfaces/ITokenAdminRegistry.sol";
import {Client} from "@chainlink/contracts-ccip/contracts/libraries/Client.sol";
import {Pool} from "@chainlink/contracts-ccip/contracts/libraries/Pool.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title LocalCcipRouter
/// @notice LOCAL CHAINS ONLY. Stands in for the CCIP network between local chains, as router, onRamp and
/// offRamp at once: `ccipSend` moves tokens through their real CCIP token pools (found in the real
/// `TokenAdminRegistry`; burned or locked, rate limits applied) and emits the message; a relay (the
/// owner) hands the message to the destination chain's instance with `execute`, which has the pools
/// release or mint and calls the receiver's `ccipReceive`. No DON, no RMN, no commit or execution reports,
/// no fees in LINK: never deploy it on a network that has CCIP.
contract LocalCcipRouter is IRouterClient, Ownable {
    using SafeERC20 for IERC20;

    /// @notice One token transfer of a message, as the destination needs it.
    struct TokenTransfer {
        bytes sourcePoolAddress;
        bytes destTokenAddress;
        bytes destPoolData;
        uint256 amount;
    }

    /// @notice A message between local chains.
    struct Message {
        bytes32 messageId;
        uint64 sourceChainSelector;
        uint64 destChainSelector;
        address sender;
        bytes receiver;
        bytes data;
        TokenTransfer[] tokens;
        uint256 gasLimit;
    }

    /// @notice This chain's selector.
    uint64 public immutable chainSelector;
    /// @notice Where the token pools are registered.
    ITokenAdminRegistry public immutable tokenAdminRegistry;
    /// @notice The flat native fee of a message.
    uint256 public fee;
    /// @notice The chains this chain has lanes to.
    mapping(uint64 chainSelector => bool) public isLane;
    /// @notice Messages executed here.
    mapping(bytes32 messageId => bool) public executed;
    /// @notice Messages sent from here.
    uint64 public sent;

    /// @notice Emitted for the relay: a message leaves this chain.
    event MessageSent(bytes32 indexed messageId, uint64 indexed destChainSelector, Message message);
    /// @notice Emitted when a message from another chain was executed here.
    event MessageExecuted(bytes32 indexed messageId, uint64 indexed sourceChainSelector);

    /// @notice Only native fees.
    error UnsupportedFeeToken(address feeToken);
    /// @notice No pool is registered for the token.
    error NoPool(address token);
    /// @notice The message is not for this chain, or comes from a chain without a lane.
    error WrongLane(uint64 sourceChainSelector, uint64 destChainSelector);
    /// @notice The message was executed before.
    error AlreadyExecuted(bytes32 messageId);
    /// @notice The receiver reverted; the whole execution is undone and can be retried.
    error ReceiverError(bytes reason);

    /// @param chainSelector_ This chain's selector.
    /// @param tokenAdminRegistry_ The token admin registry.
    /// @param relay The relay (owner): configures lanes and fees and executes messages.
    constructor(uint64 chainSelector_, ITokenAdminRegistry tokenAdminRegistry_, address relay) Ownable(relay) {
        chainSelector = chainSelector_;
        tokenAdminRegistry = tokenAdminRegistry_;
    }

    /// @notice Opens or closes the lane to `remote`. Only the relay.
    function setLane(uint64 remote, bool open) external onlyOwner {
        isLane[remote] = open;
    }

    /// @notice Sets the flat native fee. Only the relay.
    function setFee(uint256 fee_) external onlyOwner {
        fee = fee_;
    }

    /// @inheritdoc IRouterClient
    function isChainSupported(uint64 destChainSelector) external view returns (bool) {
        return isLane[destChainSelector];
    }

    /// @inheritdoc IRouterClient
    function getFee(uint64 destChainSelector, Client.EVM2AnyMessage memory message) public view returns (uint256) {
        if (!isLane[destChainSelector]) revert UnsupportedDestinationChain(destChainSelector);
        if (message.feeToken != address(0)) revert UnsupportedFeeToken(message.feeToken);
        return fee;
    }

    /// @notice The onRamp the pools accept for burning: this router.
    function getOnRamp(uint64) external view returns (address) {
        return address(this);
    }

    /// @notice Whether `offRamp` may have the pools release or mint: only this router.
    function isOffRamp(uint64, address offRamp) external view returns (bool) {
        return offRamp == address(this);
    }

    /// @inheritdoc IRouterClient
    function ccipSend(uint64 destChainSelector, Client.EVM2AnyMessage calldata message)
        external
        payable
        returns (bytes32 messageId)
    {
        uint256 due = getFee(destChainSelector, message);
        if (msg.value < due) revert InsufficientFeeTokenAmount();
        TokenTransfer[] memory tokens = new TokenTransfer[](message.tokenAmounts.length);
        for (uint256 i = 0; i < tokens.length; ++i) {
            Client.EVMTokenAmount calldata t = message.tokenAmounts[i];
            address pool = tokenAdminRegistry.getPool(t.token);
            if (pool == address(0)) revert NoPool(t.token);
            IERC20(t.token).safeTransferFrom(msg.sender, pool, t.amount);
            Pool.LockOrBurnOutV1 memory out = IPoolV1(pool)
                .lockOrBurn(
                    Pool.LockOrBurnInV1({
                    receiver: message.receiver,
                    remoteChainSelector: destChainSelector,
                    originalSender: msg.sender,
                    amount: t.amount,
                    localToken: t.token
                })
                );
            tokens[i] = TokenTransfer(abi.encode(pool), out.destTokenAddress, out.destPoolData, t.amount);
        }
        messageId = keccak256(abi.encode(chainSelector, destChainSelector, ++sent, msg.sender, message));
        emit MessageSent(
            messageId,
            destChainSelector,
            Message({
                messageId: messageId,
                sourceChainSelector: chainSelector,
                destChainSelector: destChainSelector,
                sender: msg.sender,
                receiver: message.receiver,
                data: message.data,
                tokens: tokens,
                gasLimit: _gasLimit(message.extraArgs)
            })
        );
    }

    /// @notice Executes a message sent from another chain: the pools release or mint to the receiver, then
    /// the receiver is called. Only the relay; at most once per message; all or nothing.
    function execute(Message calldata message) external onlyOwner {
        if (message.destChainSelector != chainSelector || !isLane[message.sourceChainSelector]) {
            revert WrongLane(message.sourceChainSelector, message.destChainSelector);
        }
        if (executed[message.messageId]) revert AlreadyExecuted(message.messageId);
        executed[message.messageId] = true;
        address receiver = abi.decode(message.receiver, (address));
        Client.EVMTokenAmount[] memory amounts = new Client.EVMTokenAmount[](message.tokens.length);
        for (uint256 i = 0; i < amounts.length; ++i) {
            TokenTransfer calldata t = message.tokens[i];
            address token = abi.decode(t.destTokenAddress, (address));
            address pool = tokenAdminRegistry.getPool(token);
            if (pool == address(0)) revert NoPool(token);
            Pool.ReleaseOrMintOutV1 memory out = IPoolV1(pool)
                .releaseOrMint(
                    Pool.ReleaseOrMintInV1({
                    originalSender: abi.encode(message.sender),
                    remoteChainSelector: message.sourceChainSelector,
                    receiver: receiver,
                    sourceDenominatedAmount: t.amount,
                    localToken: token,
                    sourcePoolAddress: t.sourcePoolAddress,
                    sourcePoolData: t.destPoolData,
                    offchainTokenData: ""
                })
                );
            amounts[i] = Client.EVMTokenAmount({token: token, amount: out.destinationAmount});
        }
        if (receiver.code.length > 0) {
            Client.Any2EVMMessage memory delivered = Client.Any2EVMMessage({
                messageId: message.messageId,
                sourceChainSelector: message.sourceChainSelector,
                sender: abi.encode(message.sender),
                data: message.data,
                destTokenAmounts: amounts
            });
            try IAny2EVMMessageReceiver(receiver).ccipReceive{gas: message.gasLimit}(delivered) {}
            catch (bytes memory reason) {
                revert ReceiverError(reason);
            }
        }
        emit MessageExecuted(message.messageId, message.sourceChainSelector);
    }

    /// @dev The gas limit of `GenericExtraArgsV2` or `EVMExtraArgsV1`, else CCIP's default of 200,000.
    function _gasLimit(bytes calldata extraArgs) private pure returns (uint256) {
        if (extraArgs.length >= 36) {
            bytes4 tag = bytes4(extraArgs[0:4]);
            if (tag == Client.GENERIC_EXTRA_ARGS_V2_TAG || tag == Client.EVM_EXTRA_ARGS_V1_TAG) {
                return uint256(bytes32(extraArgs[4:36]));
            }
        }
        return 200_000;
    }
}
