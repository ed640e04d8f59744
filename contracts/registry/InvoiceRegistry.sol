// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC3009} from "../interfaces/IERC3009.sol";
import {IInvoiceRegistry} from "../interfaces/IInvoiceRegistry.sol";
import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title InvoiceRegistry
/// @notice Seller-signed EIP-712 invoices, paid once, with an on-chain proof of payment.
/// @dev The owner only manages which settler contracts may pay on a payer's behalf; it cannot mark an invoice
/// paid, move funds or cancel invoices. Fee-on-transfer and rebasing tokens are refused by balance checks.
contract InvoiceRegistry is IInvoiceRegistry, EIP712, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice EIP-712 type hash of `Invoice`.
    bytes32 public constant INVOICE_TYPEHASH = keccak256(
        "Invoice(address issuer,address payee,address token,uint256 amount,uint256 deadline,bytes32 resource,string network,bytes32 salt)"
    );

    uint256 private immutable _deployedChainId;
    bytes32 private immutable _deployedNetworkHash;

    mapping(bytes32 invoiceId => Record record) private _records;

    /// @inheritdoc IInvoiceRegistry
    mapping(address settler => Path kind) public settlerKind;

    /// @param owner_ The account that manages settler contracts.
    constructor(address owner_) EIP712("Quittance Invoice Registry", "1") Ownable(owner_) {
        _deployedChainId = block.chainid;
        _deployedNetworkHash = keccak256(bytes(network()));
    }

    // ---------------------------------------------------------------------------------------------------
    // Paying
    // ---------------------------------------------------------------------------------------------------

    /// @inheritdoc IInvoiceRegistry
    function payWithAuthorization(
        Invoice calldata invoice,
        bytes calldata issuerSignature,
        address payer,
        uint256 validAfter,
        uint256 validBefore,
        bytes calldata authorization
    ) external nonReentrant returns (bytes32 id) {
        id = _checkPayable(invoice, issuerSignature);
        if (payer == invoice.payee) revert PayerIsPayee(payer);
        IERC20 token = IERC20(invoice.token);
        uint256 held = token.balanceOf(address(this));
        IERC3009(invoice.token)
            .receiveWithAuthorization(payer, address(this), invoice.amount, validAfter, validBefore, id, authorization);
        _requireDelta(token, address(this), held, invoice.amount);
        _record(id, invoice, payer, Path.Authorization, payer);
        uint256 payeeHeld = token.balanceOf(invoice.payee);
        token.safeTransfer(invoice.payee, invoice.amount);
        _requireDelta(token, invoice.payee, payeeHeld, invoice.amount);
    }

    /// @inheritdoc IInvoiceRegistry
    function payWithPermit(
        Invoice calldata invoice,
        bytes calldata issuerSignature,
        uint256 deadline,
        bytes calldata permitSignature
    ) external nonReentrant returns (bytes32 id) {
        id = _checkPayable(invoice, issuerSignature);
        if (permitSignature.length != 65) revert InvalidPermitSignature();
        bytes32 r = bytes32(permitSignature[0:32]);
        bytes32 s = bytes32(permitSignature[32:64]);
        uint8 v = uint8(permitSignature[64]);
        // A permit seen in the mempool can be front-run; the payment goes on if the allowance is there anyway.
        try IERC20Permit(invoice.token).permit(msg.sender, address(this), invoice.amount, deadline, v, r, s) {} catch {}
        _record(id, invoice, msg.sender, Path.Permit, msg.sender);
        _pull(invoice, msg.sender);
    }

    /// @inheritdoc IInvoiceRegistry
    function pay(Invoice calldata invoice, bytes calldata issuerSignature) external nonReentrant returns (bytes32 id) {
        id = _checkPayable(invoice, issuerSignature);
        _record(id, invoice, msg.sender, Path.Allowance, msg.sender);
        _pull(invoice, msg.sender);
    }

    /// @inheritdoc IInvoiceRegistry
    function settle(Invoice calldata invoice, bytes calldata issuerSignature, address payer)
        external
        nonReentrant
        returns (bytes32 id)
    {
        Path kind = settlerKind[msg.sender];
        if (kind == Path.None) revert Unauthorized(msg.sender);
        if (payer == address(0)) revert InvalidPayer(payer);
        id = _checkPayable(invoice, issuerSignature);
        if (payer == invoice.payee) revert PayerIsPayee(payer);
        _record(id, invoice, payer, kind, msg.sender);
        _pull(invoice, msg.sender);
    }

    // ---------------------------------------------------------------------------------------------------
    // Issuers and owner
    // ---------------------------------------------------------------------------------------------------

    /// @inheritdoc IInvoiceRegistry
    function cancel(Invoice calldata invoice) external nonReentrant returns (bytes32 id) {
        if (msg.sender != invoice.issuer) revert Unauthorized(msg.sender);
        id = _hashInvoice(invoice, keccak256(bytes(invoice.network)));
        _requireUnpaid(id);
        _records[id] =
            Record({status: Status.Cancelled, path: Path.None, paidAt: uint40(block.timestamp), payer: address(0)});
        emit InvoiceCancelled(id, msg.sender);
    }

    /// @inheritdoc IInvoiceRegistry
    function setSettler(address settler, Path kind) external onlyOwner {
        if (kind != Path.None && kind != Path.Escrow && kind != Path.CrossChain) revert InvalidSettlerKind(kind);
        if (settler.code.length == 0 && kind != Path.None) revert InvalidSettler(settler);
        settlerKind[settler] = kind;
        emit SettlerSet(settler, kind);
    }

    // ---------------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------------

    /// @inheritdoc IInvoiceRegistry
    function invoiceId(Invoice calldata invoice) external view returns (bytes32) {
        return _hashInvoice(invoice, keccak256(bytes(invoice.network)));
    }

    /// @inheritdoc IInvoiceRegistry
    function recordOf(bytes32 id) external view returns (Record memory) {
        return _records[id];
    }

    /// @inheritdoc IInvoiceRegistry
    function isPaid(bytes32 id) external view returns (bool) {
        return _records[id].status == Status.Paid;
    }

    /// @inheritdoc IInvoiceRegistry
    function network() public view returns (string memory) {
        return string.concat("eip155:", Strings.toString(block.chainid));
    }

    // ---------------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------------

    /// @dev Every check an invoice must pass before any token moves; returns its id.
    function _checkPayable(Invoice calldata invoice, bytes calldata issuerSignature) private view returns (bytes32 id) {
        if (invoice.amount == 0) revert ZeroAmount();
        if (invoice.payee == address(0) || invoice.payee == address(this) || invoice.token.code.length == 0) {
            revert InvalidInvoice(invoice.payee, invoice.token);
        }
        if (block.timestamp > invoice.deadline) revert InvoiceExpired(invoice.deadline, block.timestamp);
        bytes32 networkHash = keccak256(bytes(invoice.network));
        if (networkHash != _networkHash()) revert WrongNetwork(invoice.network);
        id = _hashInvoice(invoice, networkHash);
        _requireUnpaid(id);
        if (!_isIssuerSignature(invoice.issuer, id, issuerSignature)) revert InvalidIssuerSignature(invoice.issuer);
    }

    /// @dev ECDSA first: a signature that recovers to the issuer is the issuer's whatever code the issuer has, so
    /// an EOA issuer that delegated (EIP-7702), to a contract with or without `isValidSignature`, keeps paying
    /// invoices its key signed. Then ERC-1271 when the issuer has code. Two consequences, both the issuer's own
    /// doing: an issuer contract (or an EOA's delegate) that approves every digest makes any bytes its
    /// signature; and an issuer contract can revoke its unpaid invoices by changing its answer (rotating a key),
    /// which is the same as cancelling them and moves no funds. A paid invoice's record never depends on it
    /// again. An EOA issuer revokes an unpaid invoice with {cancel}: no delegate can revoke its key's signature.
    function _isIssuerSignature(address issuer, bytes32 id, bytes calldata signature) private view returns (bool) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(id, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == issuer) return true;
        return issuer.code.length != 0 && SignatureChecker.isValidERC1271SignatureNowCalldata(issuer, id, signature);
    }

    function _hashInvoice(Invoice calldata invoice, bytes32 networkHash) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    INVOICE_TYPEHASH,
                    invoice.issuer,
                    invoice.payee,
                    invoice.token,
                    invoice.amount,
                    invoice.deadline,
                    invoice.resource,
                    networkHash,
                    invoice.salt
                )
            )
        );
    }

    function _networkHash() private view returns (bytes32) {
        return block.chainid == _deployedChainId ? _deployedNetworkHash : keccak256(bytes(network()));
    }

    function _requireUnpaid(bytes32 id) private view {
        Status status = _records[id].status;
        if (status == Status.Paid) revert InvoiceAlreadyPaid(id);
        if (status == Status.Cancelled) revert InvoiceIsCancelled(id);
    }

    /// @dev Records the payment before any token leaves (checks-effects-interactions).
    function _record(bytes32 id, Invoice calldata invoice, address payer, Path path, address via) private {
        _records[id] = Record({status: Status.Paid, path: path, paidAt: uint40(block.timestamp), payer: payer});
        emit InvoicePaid(id, payer, invoice.payee, invoice.token, invoice.amount, path, via);
    }

    /// @dev Moves the invoice amount from `from` straight to the payee, checking that it arrived in full.
    function _pull(Invoice calldata invoice, address from) private {
        if (from == invoice.payee) revert PayerIsPayee(from);
        IERC20 token = IERC20(invoice.token);
        uint256 payeeHeld = token.balanceOf(invoice.payee);
        token.safeTransferFrom(from, invoice.payee, invoice.amount);
        _requireDelta(token, invoice.payee, payeeHeld, invoice.amount);
    }

    function _requireDelta(IERC20 token, address holder, uint256 before, uint256 expected) private view {
        uint256 received = token.balanceOf(holder) - before;
        if (received != expected) revert AmountMismatch(expected, received);
    }
}
