// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ISignatureTransfer} from "../../contracts/interfaces/ISignatureTransfer.sol";
import {IX402ExactPermit2Proxy} from "../../contracts/interfaces/IX402ExactPermit2Proxy.sol";
import {IX402Permit2Proxy} from "../../contracts/interfaces/IX402Permit2Proxy.sol";
import {IX402UptoPermit2Proxy} from "../../contracts/interfaces/IX402UptoPermit2Proxy.sol";
import {X402ExactPermit2Proxy} from "../../contracts/permit2/X402ExactPermit2Proxy.sol";
import {X402UptoPermit2Proxy} from "../../contracts/permit2/X402UptoPermit2Proxy.sol";
import {TestPermitToken} from "../../contracts/tokens/TestPermitToken.sol";
import {Test} from "forge-std/Test.sol";

/// @notice Shared fixture for the Permit2 proxy tests: Permit2's generated runtime code etched at its
/// canonical address (contracts/permit2/Permit2.json), both proxies, a plain EIP-2612 token, a payer that
/// approved Permit2, and signing helpers written from the EIP-712 and Permit2 type strings.
abstract contract Permit2ProxyBase is Test {
    ISignatureTransfer internal constant PERMIT2 = ISignatureTransfer(0x000000000022D473030F116dDEE9F6B43aC78BA3);

    X402ExactPermit2Proxy internal exact;
    X402UptoPermit2Proxy internal upto;
    TestPermitToken internal token;

    uint256 internal payerKey;
    address internal payer;
    address internal payee = makeAddr("payee");
    address internal facilitator = makeAddr("facilitator");

    uint256 internal constant AMOUNT = 1e16; // one cent of an 18-decimal dollar
    uint256 internal constant NONCE = 0x12345678;
    uint256 internal constant START = 1_750_000_000;

    function setUp() public virtual {
        vm.warp(START);
        bytes memory code = vm.parseJsonBytes(vm.readFile("contracts/permit2/Permit2.json"), ".runtimeCode");
        vm.etch(address(PERMIT2), code);
        exact = new X402ExactPermit2Proxy(address(PERMIT2));
        upto = new X402UptoPermit2Proxy(address(PERMIT2));
        token = new TestPermitToken("Dollar", "USD", address(this));
        (payer, payerKey) = makeAddrAndKey("payer");
        token.mint(payer, 1000e18);
        token.mint(payee, 1); // a seller that has sold before: steady-state gas
    }

    function _approvePermit2() internal {
        vm.prank(payer);
        token.approve(address(PERMIT2), type(uint256).max);
    }

    function _permit(uint256 amount, uint256 nonce)
        internal
        view
        returns (ISignatureTransfer.PermitTransferFrom memory)
    {
        return ISignatureTransfer.PermitTransferFrom({
            permitted: ISignatureTransfer.TokenPermissions({token: address(token), amount: amount}),
            nonce: nonce,
            deadline: block.timestamp + 60
        });
    }

    function _permit2Domain() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,uint256 chainId,address verifyingContract)"),
                keccak256("Permit2"),
                block.chainid,
                address(PERMIT2)
            )
        );
    }

    /// @dev The Permit2 signature of `key` over `permit` with `spender` and a witness of `witnessTypeString`.
    function _signWitness(
        uint256 key,
        ISignatureTransfer.PermitTransferFrom memory permit,
        address spender,
        bytes32 witness,
        string memory witnessTypeString
    ) internal view returns (bytes memory) {
        bytes32 typeHash = keccak256(
            abi.encodePacked(
                "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,",
                witnessTypeString
            )
        );
        bytes32 permitted = keccak256(
            abi.encode(
                keccak256("TokenPermissions(address token,uint256 amount)"),
                permit.permitted.token,
                permit.permitted.amount
            )
        );
        bytes32 structHash = keccak256(abi.encode(typeHash, permitted, spender, permit.nonce, permit.deadline, witness));
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(key, keccak256(abi.encodePacked("\x19\x01", _permit2Domain(), structHash)));
        return abi.encodePacked(r, s, v);
    }

    function _exactWitness(address to, uint256 validAfter)
        internal
        pure
        returns (IX402ExactPermit2Proxy.Witness memory)
    {
        return IX402ExactPermit2Proxy.Witness({to: to, validAfter: validAfter});
    }

    function _signExact(
        uint256 key,
        ISignatureTransfer.PermitTransferFrom memory permit,
        IX402ExactPermit2Proxy.Witness memory witness
    ) internal view returns (bytes memory) {
        bytes32 hash = keccak256(
            abi.encode(keccak256("Witness(address to,uint256 validAfter)"), witness.to, witness.validAfter)
        );
        return _signWitness(
            key,
            permit,
            address(exact),
            hash,
            "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)"
        );
    }

    function _uptoWitness(address to, address by, uint256 validAfter)
        internal
        pure
        returns (IX402UptoPermit2Proxy.Witness memory)
    {
        return IX402UptoPermit2Proxy.Witness({to: to, facilitator: by, validAfter: validAfter});
    }

    function _signUpto(
        uint256 key,
        ISignatureTransfer.PermitTransferFrom memory permit,
        IX402UptoPermit2Proxy.Witness memory witness
    ) internal view returns (bytes memory) {
        bytes32 hash = keccak256(
            abi.encode(
                keccak256("Witness(address to,address facilitator,uint256 validAfter)"),
                witness.to,
                witness.facilitator,
                witness.validAfter
            )
        );
        return _signWitness(
            key,
            permit,
            address(upto),
            hash,
            "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)"
        );
    }

    /// @dev The payer's EIP-2612 permit approving Permit2 for `value`.
    function _permit2612(uint256 value) internal view returns (IX402Permit2Proxy.EIP2612Permit memory p) {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                payer,
                address(PERMIT2),
                value,
                token.nonces(payer),
                block.timestamp + 60
            )
        );
        (p.v, p.r, p.s) =
            vm.sign(payerKey, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
        p.value = value;
        p.deadline = block.timestamp + 60;
    }
}
