// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IInvoiceRegistry
/// @notice Quittance's cryptographic invoices and their proof of payment. A seller (the issuer) signs an
/// EIP-712 invoice off chain; anyone who holds it can pay it here, exactly once, and the registry records
/// who paid, when and how. The invoice id is the invoice's EIP-712 digest in this registry's domain, so it is
/// bound to this chain and this registry: an id cannot be squatted, and an invoice cannot be replayed
/// elsewhere.
/// @dev Nothing about an invoice is stored until it is paid or cancelled; the registry holds no funds at
/// rest: every payment reaches the payee in the transaction that records it.
/// The issuer's signature is checked ECDSA first (valid whatever code the issuer has, so an EOA issuer
/// delegated by EIP-7702 keeps its key), then by ERC-1271 when the issuer has code. An issuer contract can
/// therefore revoke its unpaid invoices by changing its answer: that is equivalent to cancelling them and
/// moves no funds; a paid invoice's record never depends on the issuer's answer again.
interface IInvoiceRegistry {
    /// @notice A seller-signed request for payment.
    /// @param issuer The seller who signs the invoice (an EOA, delegated by EIP-7702 or not, or an ERC-1271
    /// contract wallet).
    /// @param payee The address the payment goes to.
    /// @param token The ERC-20 token of the payment.
    /// @param amount The exact amount due, in the token's smallest unit.
    /// @param deadline The last second (unix time) at which the invoice may be paid.
    /// @param resource A hash of what is being bought (for x402: of the resource URL and its description).
    /// @param network The CAIP-2 network the invoice is payable on, e.g. "eip155:8453"; must be this chain's.
    /// @param salt A value the issuer chooses so that equal terms still make distinct invoices.
    struct Invoice {
        address issuer;
        address payee;
        address token;
        uint256 amount;
        uint256 deadline;
        bytes32 resource;
        string network;
        bytes32 salt;
    }

    /// @notice Where an invoice stands.
    enum Status {
        Unpaid,
        Paid,
        Cancelled
    }

    /// @notice How an invoice was paid.
    /// @dev `Escrow` and `CrossChain` are the kinds of settler contracts (see `setSettler`).
    enum Path {
        None,
        Authorization,
        Permit,
        Allowance,
        Escrow,
        CrossChain
    }

    /// @notice The registry's record of an invoice, one storage slot.
    /// @param status Unpaid, paid or cancelled.
    /// @param path How it was paid (None while unpaid or cancelled).
    /// @param paidAt When it was paid or cancelled (unix time; 0 while unpaid).
    /// @param payer Who paid (0 while unpaid or cancelled).
    struct Record {
        Status status;
        Path path;
        uint40 paidAt;
        address payer;
    }

    /// @notice Emitted when an invoice is paid; the payee has received `amount` of `token` in the same
    /// transaction.
    /// @param invoiceId The invoice's id (its EIP-712 digest).
    /// @param payer Who paid.
    /// @param payee Who was paid.
    /// @param token The token paid in.
    /// @param amount The amount paid, equal to the invoice's amount.
    /// @param path How it was paid.
    /// @param via The contract that settled it for the payer (a settler), or the payer's own address.
    event InvoicePaid(
        bytes32 indexed invoiceId,
        address indexed payer,
        address indexed payee,
        address token,
        uint256 amount,
        Path path,
        address via
    );

    /// @notice Emitted when an issuer cancels an unpaid invoice.
    /// @param invoiceId The invoice's id.
    /// @param issuer The issuer who cancelled it.
    event InvoiceCancelled(bytes32 indexed invoiceId, address indexed issuer);

    /// @notice Emitted when the owner allows, changes or revokes a settler contract.
    /// @param settler The settler contract.
    /// @param kind The path it records (Escrow or CrossChain), or None when revoked.
    event SettlerSet(address indexed settler, Path kind);

    /// @notice Thrown when an invoice's amount is zero.
    error ZeroAmount();

    /// @notice Thrown when an invoice names the zero address or the registry itself as payee, or a token
    /// without code.
    /// @param payee The invoice's payee.
    /// @param token The invoice's token.
    error InvalidInvoice(address payee, address token);

    /// @notice Thrown when an invoice is paid after its deadline.
    /// @param deadline The invoice's deadline.
    /// @param timestamp The current block time.
    error InvoiceExpired(uint256 deadline, uint256 timestamp);

    /// @notice Thrown when an invoice is for another network than this chain's.
    /// @param network The invoice's network.
    error WrongNetwork(string network);

    /// @notice Thrown when an invoice was already paid.
    /// @param invoiceId The invoice's id.
    error InvoiceAlreadyPaid(bytes32 invoiceId);

    /// @notice Thrown when an invoice was cancelled by its issuer.
    /// @param invoiceId The invoice's id.
    error InvoiceIsCancelled(bytes32 invoiceId);

    /// @notice Thrown when the issuer's signature does not match the invoice: it neither recovers to the
    /// issuer nor, when the issuer has code, does the issuer accept it by ERC-1271.
    /// @param issuer The invoice's issuer.
    error InvalidIssuerSignature(address issuer);

    /// @notice Thrown when the caller may not perform the operation.
    /// @param caller The caller.
    error Unauthorized(address caller);

    /// @notice Thrown when a token transfer did not move exactly the expected amount (fee-on-transfer,
    /// rebasing or misbehaving tokens are not supported).
    /// @param expected The amount that had to arrive.
    /// @param received The amount that did arrive.
    error AmountMismatch(uint256 expected, uint256 received);

    /// @notice Thrown when a settler pays on behalf of the zero address.
    /// @param payer The refused payer.
    error InvalidPayer(address payer);

    /// @notice Thrown when the payer (or the paying settler) is the invoice's payee: paying oneself proves
    /// nothing and moves nothing.
    /// @param payee The invoice's payee.
    error PayerIsPayee(address payee);

    /// @notice Thrown when a permit signature is not 65 bytes.
    error InvalidPermitSignature();

    /// @notice Thrown when a settler to be allowed has no code (settlers are contracts).
    /// @param settler The refused address.
    error InvalidSettler(address settler);

    /// @notice Thrown when a settler kind is not Escrow, CrossChain or None.
    /// @param kind The refused kind.
    error InvalidSettlerKind(Path kind);

    /// @notice Pays `invoice` with the payer's EIP-3009 `ReceiveWithAuthorization` signed for this registry
    /// (`to` = this registry, `value` = the invoice amount, `nonce` = the invoice id). Anyone may submit it,
    /// e.g. a facilitator: the payer pays no gas. The token's own record of the nonce ties the transfer to the
    /// invoice.
    /// @param invoice The invoice.
    /// @param issuerSignature The issuer's signature of the invoice.
    /// @param payer The payer, who signed the authorization.
    /// @param validAfter The authorization is valid only after this time.
    /// @param validBefore The authorization is valid only before this time.
    /// @param authorization The payer's signature of the authorization.
    /// @return invoiceId The invoice's id.
    function payWithAuthorization(
        Invoice calldata invoice,
        bytes calldata issuerSignature,
        address payer,
        uint256 validAfter,
        uint256 validBefore,
        bytes calldata authorization
    ) external returns (bytes32 invoiceId);

    /// @notice Pays `invoice` from the caller's balance with an EIP-2612 permit for this registry, in one
    /// transaction. A permit that was already used (e.g. front-run) is tolerated when the allowance suffices.
    /// @param invoice The invoice.
    /// @param issuerSignature The issuer's signature of the invoice.
    /// @param deadline The permit's deadline.
    /// @param permitSignature The caller's 65-byte permit signature (r, s, v).
    /// @return invoiceId The invoice's id.
    function payWithPermit(
        Invoice calldata invoice,
        bytes calldata issuerSignature,
        uint256 deadline,
        bytes calldata permitSignature
    ) external returns (bytes32 invoiceId);

    /// @notice Pays `invoice` from the caller's balance with a prior ERC-20 allowance to this registry.
    /// @param invoice The invoice.
    /// @param issuerSignature The issuer's signature of the invoice.
    /// @return invoiceId The invoice's id.
    function pay(Invoice calldata invoice, bytes calldata issuerSignature) external returns (bytes32 invoiceId);

    /// @notice Records `invoice` as paid by `payer` through a settler contract (the escrow, the cross-chain
    /// receiver). The registry itself moves the invoice amount from the settler to the payee, so a settler
    /// can only record an invoice as paid by paying it: it must have approved this registry for the amount.
    /// @param invoice The invoice.
    /// @param issuerSignature The issuer's signature of the invoice.
    /// @param payer The payer on whose behalf the settler pays (who funded the escrow, or paid on another
    /// chain).
    /// @return invoiceId The invoice's id.
    function settle(Invoice calldata invoice, bytes calldata issuerSignature, address payer)
        external
        returns (bytes32 invoiceId);

    /// @notice Cancels an unpaid invoice, so it can never be paid. Only its issuer may cancel it.
    /// @param invoice The invoice.
    /// @return invoiceId The invoice's id.
    function cancel(Invoice calldata invoice) external returns (bytes32 invoiceId);

    /// @notice Allows `settler` to record settlements of kind `kind` (Escrow or CrossChain), or revokes it with
    /// `None`. Only the owner may call this.
    /// @param settler The settler contract.
    /// @param kind The kind of path it records.
    function setSettler(address settler, Path kind) external;

    /// @notice The id of `invoice`: its EIP-712 digest in this registry's domain.
    /// @param invoice The invoice.
    /// @return The invoice id.
    function invoiceId(Invoice calldata invoice) external view returns (bytes32);

    /// @notice The record of an invoice: status, path, time and payer.
    /// @param invoiceId The invoice's id.
    /// @return The record (all zero while unpaid).
    function recordOf(bytes32 invoiceId) external view returns (Record memory);

    /// @notice Whether an invoice was paid.
    /// @param invoiceId The invoice's id.
    /// @return True once paid.
    function isPaid(bytes32 invoiceId) external view returns (bool);

    /// @notice The kind of settlement a settler contract may record (None if it is not a settler).
    /// @param settler The address.
    /// @return The kind.
    function settlerKind(address settler) external view returns (Path);

    /// @notice The CAIP-2 network of this chain ("eip155:<chain id>"), which invoices must name.
    /// @return The network string.
    function network() external view returns (string memory);
}
