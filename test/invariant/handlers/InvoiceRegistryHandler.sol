// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceRegistry} from "../../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../../../contracts/registry/InvoiceRegistry.sol";
import {TestStablecoin} from "../../../contracts/tokens/TestStablecoin.sol";
import {MockERC1271Wallet} from "../../mocks/MockERC1271Wallet.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

/// @notice A settler contract (an escrow or a cross-chain receiver, as far as the registry knows): it pays an
/// invoice from its own balance, which the handler funds beforehand.
contract InvoiceSettler {
    InvoiceRegistry public immutable registry;

    constructor(InvoiceRegistry registry_) {
        registry = registry_;
    }

    function settle(IInvoiceRegistry.Invoice calldata invoice, bytes calldata signature, address payer)
        external
        returns (bytes32 id)
    {
        IERC20(invoice.token).approve(address(registry), invoice.amount);
        id = registry.settle(invoice, signature, payer);
        IERC20(invoice.token).approve(address(registry), 0);
    }
}

/// @notice Drives the registry through many invoices from a few issuers (two keys and an ERC-1271 wallet),
/// paid by a few payers through every path (EIP-3009, allowance, permit, settlers), cancelled, paid again,
/// paid with bad data and paid late; keeps a ghost record of every invoice.
/// @dev Every operation computes whether it must succeed; a call that fails although it should have
/// succeeded, or succeeds although it should have failed, is counted and checked to be zero by the invariant
/// suite (the invariant runner itself ignores reverts).
contract InvoiceRegistryHandler is CommonBase, StdCheats, StdUtils {
    /// @notice The ghost record of one invoice.
    struct Ghost {
        uint256 successfulPayments;
        uint256 successfulCancels;
        IInvoiceRegistry.Status status;
        IInvoiceRegistry.Path path;
        uint40 recordedAt;
        address payer;
    }

    /// @notice One invoice as the invariant suite sees it.
    struct InvoiceView {
        bytes32 id;
        address payee;
        uint256 amount;
        Ghost ghost;
    }

    uint256 internal constant MAX_INVOICES = 40;
    uint256 internal constant MAX_AMOUNT = 1_000_000e6;

    InvoiceRegistry public immutable registry;
    TestStablecoin public immutable usdc;
    InvoiceSettler public immutable escrowSettler;
    InvoiceSettler public immutable crossChainSettler;
    /// @notice A settler the owner never allowed: its settlements must fail.
    InvoiceSettler public immutable rogueSettler;

    address[] internal _issuers;
    uint256[] internal _issuerKeys;
    address[] internal _payers;
    uint256[] internal _payerKeys;
    address[] internal _payees;

    IInvoiceRegistry.Invoice[] internal _invoices;
    bytes[] internal _signatures;
    bytes32[] internal _ids;
    uint256[] internal _issuerIndex;
    mapping(bytes32 id => Ghost ghost) internal _ghosts;

    uint256 public ghostPaidTotal;
    uint256 public ghostMovedToPayees;
    mapping(address payee => uint256 amount) public ghostPayeeReceived;

    uint256 public unexpectedFailures;
    uint256 public unexpectedSuccesses;
    uint256 public mismatches;
    bytes public lastUnexpected;

    mapping(bytes32 op => uint256 count) public calls;
    mapping(bytes32 op => uint256 count) public successes;

    /// @dev The registry's owner must allow `escrowSettler` and `crossChainSettler` (created here) afterwards.
    constructor(InvoiceRegistry registry_) {
        registry = registry_;
        usdc = new TestStablecoin("USD Coin", "USDC", "2", address(this));
        escrowSettler = new InvoiceSettler(registry_);
        crossChainSettler = new InvoiceSettler(registry_);
        rogueSettler = new InvoiceSettler(registry_);
        for (uint256 i; i < 3; ++i) {
            (address issuer, uint256 issuerKey) = makeAddrAndKey(string.concat("issuer", vm.toString(i)));
            // The third issuer is a contract wallet whose owner key signs (ERC-1271).
            if (i == 2) issuer = address(new MockERC1271Wallet(issuer));
            _issuers.push(issuer);
            _issuerKeys.push(issuerKey);
            (address payer, uint256 payerKey) = makeAddrAndKey(string.concat("payer", vm.toString(i)));
            _payers.push(payer);
            _payerKeys.push(payerKey);
            _payees.push(makeAddr(string.concat("payee", vm.toString(i))));
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Views for the invariant suite
    // ---------------------------------------------------------------------------------------------------

    function invoiceCount() external view returns (uint256) {
        return _ids.length;
    }

    /// @notice Every invoice with its ghost, in one call (the invariants run after every call: keep them cheap).
    function invoices() external view returns (InvoiceView[] memory list) {
        list = new InvoiceView[](_ids.length);
        for (uint256 i; i < _ids.length; ++i) {
            list[i] = InvoiceView({
                id: _ids[i], payee: _invoices[i].payee, amount: _invoices[i].amount, ghost: _ghosts[_ids[i]]
            });
        }
    }

    function payees() external view returns (address[] memory) {
        return _payees;
    }

    // ---------------------------------------------------------------------------------------------------
    // Actions
    // ---------------------------------------------------------------------------------------------------

    /// @notice An issuer signs a new invoice (up to a cap per run).
    function issue(uint256 issuerSeed, uint256 payeeSeed, uint256 amountSeed, uint256 deadlineSeed) public {
        if (_ids.length >= MAX_INVOICES) return;
        calls["issue"]++;
        uint256 issuerIndex = issuerSeed % _issuers.length;
        IInvoiceRegistry.Invoice memory invoice = IInvoiceRegistry.Invoice({
            issuer: _issuers[issuerIndex],
            payee: _payees[payeeSeed % _payees.length],
            token: address(usdc),
            amount: _bound(amountSeed, 1, MAX_AMOUNT),
            deadline: block.timestamp + _bound(deadlineSeed, 0, 5 days),
            resource: keccak256(abi.encode("resource", amountSeed)),
            network: string.concat("eip155:", vm.toString(block.chainid)),
            salt: bytes32(_ids.length)
        });
        bytes32 id = _invoiceId(invoice);
        if (registry.invoiceId(invoice) != id) mismatches++;
        _invoices.push(invoice);
        _signatures.push(_signDigest(_issuerKeys[issuerIndex], id));
        _ids.push(id);
        _issuerIndex.push(issuerIndex);
        successes["issue"]++;
    }

    /// @notice A payer's EIP-3009 authorization (nonce = invoice id), submitted by anyone.
    function payWithAuthorization(uint256 invoiceSeed, uint256 payerSeed, uint256 submitterSeed) external {
        uint256 i = _findPayable(invoiceSeed);
        if (i == type(uint256).max) return;
        calls["payWithAuthorization"]++;
        (IInvoiceRegistry.Invoice memory invoice, bytes32 id, bool expected) = _target(i);
        uint256 payerIndex = payerSeed % _payers.length;
        usdc.mint(_payers[payerIndex], invoice.amount);
        bytes memory authorization = _signReceive(payerIndex, invoice.amount, id);
        uint256 payeeBefore = usdc.balanceOf(invoice.payee);
        vm.prank(_payees[submitterSeed % _payees.length]);
        try registry.payWithAuthorization(
            invoice, _signatures[i], _payers[payerIndex], block.timestamp - 1, block.timestamp + 1 hours, authorization
        ) returns (
            bytes32 returned
        ) {
            if (_succeeded("payWithAuthorization", expected)) {
                _recordPayment(i, returned, _payers[payerIndex], IInvoiceRegistry.Path.Authorization, payeeBefore);
            } else {
                _ghosts[id].successfulPayments++;
            }
        } catch (bytes memory err) {
            _failed(expected, err);
        }
    }

    /// @notice A payer pays from its balance with a prior allowance.
    function pay(uint256 invoiceSeed, uint256 payerSeed) external {
        uint256 i = _findPayable(invoiceSeed);
        if (i == type(uint256).max) return;
        calls["pay"]++;
        (IInvoiceRegistry.Invoice memory invoice,, bool expected) = _target(i);
        address payer = _payers[payerSeed % _payers.length];
        usdc.mint(payer, invoice.amount);
        vm.prank(payer);
        usdc.approve(address(registry), invoice.amount);
        uint256 payeeBefore = usdc.balanceOf(invoice.payee);
        vm.prank(payer);
        try registry.pay(invoice, _signatures[i]) returns (bytes32 returned) {
            if (_succeeded("pay", expected)) {
                _recordPayment(i, returned, payer, IInvoiceRegistry.Path.Allowance, payeeBefore);
            } else {
                _ghosts[_ids[i]].successfulPayments++;
            }
        } catch (bytes memory err) {
            _failed(expected, err);
        }
    }

    /// @notice A payer pays with an EIP-2612 permit for the registry, in one call.
    function payWithPermit(uint256 invoiceSeed, uint256 payerSeed) external {
        uint256 i = _findPayable(invoiceSeed);
        if (i == type(uint256).max) return;
        calls["payWithPermit"]++;
        (IInvoiceRegistry.Invoice memory invoice,, bool expected) = _target(i);
        uint256 payerIndex = payerSeed % _payers.length;
        address payer = _payers[payerIndex];
        usdc.mint(payer, invoice.amount);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory permit = _signPermit(_payerKeys[payerIndex], payer, invoice.amount, deadline);
        uint256 payeeBefore = usdc.balanceOf(invoice.payee);
        vm.prank(payer);
        try registry.payWithPermit(invoice, _signatures[i], deadline, permit) returns (bytes32 returned) {
            if (_succeeded("payWithPermit", expected)) {
                _recordPayment(i, returned, payer, IInvoiceRegistry.Path.Permit, payeeBefore);
            } else {
                _ghosts[_ids[i]].successfulPayments++;
            }
        } catch (bytes memory err) {
            _failed(expected, err);
        }
    }

    /// @notice A settler (escrow or cross-chain kind), funded with the invoice amount, pays for a payer.
    function settle(uint256 invoiceSeed, uint256 payerSeed, bool crossChain) external {
        uint256 i = _findPayable(invoiceSeed);
        if (i == type(uint256).max) return;
        calls["settle"]++;
        (IInvoiceRegistry.Invoice memory invoice,, bool expected) = _target(i);
        InvoiceSettler settler = crossChain ? crossChainSettler : escrowSettler;
        address payer = _payers[payerSeed % _payers.length];
        usdc.mint(address(settler), invoice.amount);
        uint256 payeeBefore = usdc.balanceOf(invoice.payee);
        try settler.settle(invoice, _signatures[i], payer) returns (bytes32 returned) {
            if (!_succeeded("settle", expected)) {
                _ghosts[_ids[i]].successfulPayments++;
                return;
            }
            IInvoiceRegistry.Path path = crossChain ? IInvoiceRegistry.Path.CrossChain : IInvoiceRegistry.Path.Escrow;
            _recordPayment(i, returned, payer, path, payeeBefore);
        } catch (bytes memory err) {
            _failed(expected, err);
        }
    }

    /// @notice Cancels an invoice: mostly an unpaid one by its issuer (which must succeed), sometimes any
    /// invoice by its issuer (a paid or cancelled one must stay so), sometimes by a stranger (which must fail).
    function cancel(uint256 invoiceSeed, uint256 kindSeed) external {
        if (_ids.length == 0) return;
        calls["cancel"]++;
        uint256 kind = kindSeed % 4;
        bool byStranger = kind == 3;
        uint256 i = invoiceSeed % _ids.length;
        if (kind < 2) i = _findUnpaid(invoiceSeed);
        bytes32 id = _ids[i];
        bool expected = !byStranger && _ghosts[id].status == IInvoiceRegistry.Status.Unpaid;
        vm.prank(byStranger ? _payers[invoiceSeed % _payers.length] : _invoices[i].issuer);
        try registry.cancel(_invoices[i]) returns (bytes32 returned) {
            Ghost storage ghost = _ghosts[id];
            ghost.successfulCancels++;
            if (!_succeeded("cancel", expected)) return;
            if (returned != id) mismatches++;
            ghost.status = IInvoiceRegistry.Status.Cancelled;
            // casting is safe: block times stay far below 2**40
            // forge-lint: disable-next-line(unsafe-typecast)
            ghost.recordedAt = uint40(block.timestamp);
        } catch (bytes memory err) {
            _failed(expected, err);
        }
    }

    /// @notice Pays again an invoice that is paid or cancelled, through any path: it must fail.
    function payAgain(uint256 invoiceSeed, uint256 pathSeed) external {
        if (_ids.length == 0) return;
        uint256 start = invoiceSeed % _ids.length;
        uint256 i = start;
        for (uint256 k; k < _ids.length; ++k) {
            i = (start + k) % _ids.length;
            if (_ghosts[_ids[i]].status != IInvoiceRegistry.Status.Unpaid) break;
        }
        if (_ghosts[_ids[i]].status == IInvoiceRegistry.Status.Unpaid) return;
        calls["payAgain"]++;
        _attemptInvalid(i, _invoices[i], _signatures[i], pathSeed, "payAgain");
    }

    /// @notice Pays an unpaid invoice, with valid signatures, one second after its deadline (warping there if
    /// needed): it must fail, and the invoice stays unpaid (its issuer may still cancel it).
    function payExpired(uint256 invoiceSeed, uint256 pathSeed) external {
        if (_ids.length == 0) return;
        uint256 i = _findUnpaid(invoiceSeed);
        if (_ghosts[_ids[i]].status != IInvoiceRegistry.Status.Unpaid) return;
        calls["payExpired"]++;
        if (block.timestamp <= _invoices[i].deadline) vm.warp(_invoices[i].deadline + 1);
        _attemptInvalid(i, _invoices[i], _signatures[i], pathSeed, "payExpired");
    }

    /// @notice Pays with bad data, which must fail and leave the invoice as it was: a signature by another
    /// issuer, a tampered amount, another network, or a settler the owner never allowed.
    function payInvalid(uint256 invoiceSeed, uint256 kindSeed) external {
        if (_ids.length == 0) return;
        calls["payInvalid"]++;
        uint256 i = invoiceSeed % _ids.length;
        IInvoiceRegistry.Invoice memory invoice = _invoices[i];
        bytes memory signature = _signatures[i];
        uint256 kind = kindSeed % 4;
        if (kind == 0) {
            uint256 other = (_issuerIndex[i] + 1) % _issuers.length;
            signature = _signDigest(_issuerKeys[other], _ids[i]);
        } else if (kind == 1) {
            invoice.amount += 1;
        } else if (kind == 2) {
            invoice.network = "eip155:0";
            signature = _signDigest(_issuerKeys[_issuerIndex[i]], _invoiceId(invoice));
        } else {
            calls["payInvalid"]--;
            calls["rogueSettle"]++;
            usdc.mint(address(rogueSettler), invoice.amount);
            try rogueSettler.settle(invoice, signature, _payers[0]) {
                unexpectedSuccesses++;
                lastUnexpected = abi.encode("rogueSettle");
                _ghosts[_ids[i]].successfulPayments++;
            } catch {
                successes["rogueSettle"]++;
            }
            return;
        }
        _attemptInvalid(i, invoice, signature, kindSeed / 4, "payInvalid");
    }

    /// @notice Moves time forward, up to two days, so that invoices expire.
    function warp(uint256 secondsSeed) external {
        calls["warp"]++;
        successes["warp"]++;
        vm.warp(block.timestamp + _bound(secondsSeed, 1, 2 days));
    }

    // ---------------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------------

    /// @dev The first unpaid invoice from the seed on that is not past its deadline; an invoice is issued
    /// when there is none (or when the seed says so and the cap allows), so that most payments do work.
    /// Returns `type(uint256).max` when nothing can be paid.
    function _findPayable(uint256 seed) internal returns (uint256) {
        if (_ids.length == 0 || (seed % 5 == 0 && _ids.length < MAX_INVOICES)) {
            issue(seed, seed / 3, seed / 5, seed / 7);
            return _ids.length == 0 ? type(uint256).max : _ids.length - 1;
        }
        uint256 start = seed % _ids.length;
        for (uint256 k; k < _ids.length; ++k) {
            uint256 i = (start + k) % _ids.length;
            if (_ghosts[_ids[i]].status == IInvoiceRegistry.Status.Unpaid && block.timestamp <= _invoices[i].deadline) {
                return i;
            }
        }
        if (_ids.length < MAX_INVOICES) {
            issue(seed, seed / 3, seed / 5, seed / 7);
            return _ids.length - 1;
        }
        return start; // nothing payable: the payment must fail
    }

    /// @dev The first unpaid invoice from the seed on (deadline or not); a new one when there is none and the
    /// cap allows, else the seed's invoice.
    function _findUnpaid(uint256 seed) internal returns (uint256) {
        uint256 start = seed % _ids.length;
        for (uint256 k; k < _ids.length; ++k) {
            uint256 i = (start + k) % _ids.length;
            if (_ghosts[_ids[i]].status == IInvoiceRegistry.Status.Unpaid) return i;
        }
        if (_ids.length < MAX_INVOICES) {
            issue(seed, seed / 3, seed / 5, seed / 7);
            return _ids.length - 1;
        }
        return start;
    }

    function _target(uint256 i) internal view returns (IInvoiceRegistry.Invoice memory invoice, bytes32 id, bool ok) {
        invoice = _invoices[i];
        id = _ids[i];
        ok = _ghosts[id].status == IInvoiceRegistry.Status.Unpaid && block.timestamp <= invoice.deadline;
    }

    /// @dev Attempts a payment that must fail, through the path `pathSeed` picks; a success is counted as
    /// unexpected and booked as a payment of invoice `i`, so that the invariants see it.
    function _attemptInvalid(
        uint256 i,
        IInvoiceRegistry.Invoice memory invoice,
        bytes memory signature,
        uint256 pathSeed,
        bytes32 op
    ) internal {
        address payer = _payers[pathSeed % _payers.length];
        uint256 path = (pathSeed / 3) % 3;
        bool ok;
        if (path == 0) {
            usdc.mint(payer, invoice.amount);
            vm.prank(payer);
            usdc.approve(address(registry), invoice.amount);
            vm.prank(payer);
            try registry.pay(invoice, signature) {
                ok = true;
            } catch {}
        } else if (path == 1) {
            uint256 payerIndex = pathSeed % _payers.length;
            usdc.mint(payer, invoice.amount);
            bytes memory authorization = _signReceive(payerIndex, invoice.amount, _invoiceId(invoice));
            try registry.payWithAuthorization(
                invoice, signature, payer, block.timestamp - 1, block.timestamp + 1 hours, authorization
            ) {
                ok = true;
            } catch {}
        } else {
            usdc.mint(address(escrowSettler), invoice.amount);
            try escrowSettler.settle(invoice, signature, payer) {
                ok = true;
            } catch {}
        }
        if (ok) {
            unexpectedSuccesses++;
            lastUnexpected = abi.encode(op, path);
            _ghosts[_ids[i]].successfulPayments++;
        } else {
            successes[op]++;
        }
    }

    function _recordPayment(uint256 i, bytes32 returned, address payer, IInvoiceRegistry.Path path, uint256 payeeBefore)
        internal
    {
        bytes32 id = _ids[i];
        IInvoiceRegistry.Invoice storage invoice = _invoices[i];
        if (returned != id) mismatches++;
        uint256 received = usdc.balanceOf(invoice.payee) - payeeBefore;
        if (received != invoice.amount) mismatches++;
        Ghost storage ghost = _ghosts[id];
        ghost.successfulPayments++;
        ghost.status = IInvoiceRegistry.Status.Paid;
        ghost.path = path;
        // casting is safe: block times stay far below 2**40
        // forge-lint: disable-next-line(unsafe-typecast)
        ghost.recordedAt = uint40(block.timestamp);
        ghost.payer = payer;
        ghostPaidTotal += invoice.amount;
        ghostMovedToPayees += received;
        ghostPayeeReceived[invoice.payee] += received;
    }

    function _invoiceId(IInvoiceRegistry.Invoice memory invoice) internal view returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Quittance Invoice Registry"),
                keccak256("1"),
                block.chainid,
                address(registry)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Invoice(address issuer,address payee,address token,uint256 amount,uint256 deadline,bytes32 resource,string network,bytes32 salt)"
                ),
                invoice.issuer,
                invoice.payee,
                invoice.token,
                invoice.amount,
                invoice.deadline,
                invoice.resource,
                keccak256(bytes(invoice.network)),
                invoice.salt
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }

    /// @dev Payer number `payerIndex`'s EIP-3009 `ReceiveWithAuthorization` to the registry, valid from a second
    /// ago for an hour.
    function _signReceive(uint256 payerIndex, uint256 amount, bytes32 nonce) internal view returns (bytes memory) {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
                ),
                _payers[payerIndex],
                address(registry),
                amount,
                block.timestamp - 1,
                block.timestamp + 1 hours,
                nonce
            )
        );
        return _signDigest(_payerKeys[payerIndex], _usdcDigest(structHash));
    }

    function _signPermit(uint256 key, address payer, uint256 amount, uint256 deadline)
        internal
        view
        returns (bytes memory)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                payer,
                address(registry),
                amount,
                usdc.nonces(payer),
                deadline
            )
        );
        return _signDigest(key, _usdcDigest(structHash));
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

    function _signDigest(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
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
