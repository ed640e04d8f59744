// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC3009} from "../../contracts/interfaces/IERC3009.sol";
import {IInvoiceRegistry} from "../../contracts/interfaces/IInvoiceRegistry.sol";
import {InvoiceRegistry} from "../../contracts/registry/InvoiceRegistry.sol";
import {TestStablecoin} from "../../contracts/tokens/TestStablecoin.sol";
import {InvoiceRegistryBase} from "../base/InvoiceRegistryBase.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

contract PayWithAuthorizationTest is InvoiceRegistryBase {
    uint256 internal validAfter;
    uint256 internal validBefore;

    function setUp() public override {
        super.setUp();
        (validAfter, validBefore) = _window();
    }

    /// @dev The payer's authorization for `invoice`, as the registry requires it.
    function _authorize(IInvoiceRegistry.Invoice memory invoice) internal view returns (bytes memory) {
        return _signReceiveAuthorization(
            payerKey, payer, address(registry), invoice.amount, validAfter, validBefore, _invoiceId(invoice)
        );
    }

    /// @dev A facilitator submits the payer's authorization.
    function _submit(IInvoiceRegistry.Invoice memory invoice, bytes memory issuerSignature, bytes memory authorization)
        internal
        returns (bytes32)
    {
        vm.prank(relayer);
        return registry.payWithAuthorization(invoice, issuerSignature, payer, validAfter, validBefore, authorization);
    }

    /// @dev Expects `revertData` from paying `invoice` with a fresh, otherwise valid authorization, then checks
    /// that nothing moved.
    function _expectPayRevert(
        IInvoiceRegistry.Invoice memory invoice,
        bytes memory issuerSignature,
        bytes memory revertData
    ) internal {
        bytes memory authorization = _authorize(invoice);
        vm.expectRevert(revertData);
        _submit(invoice, issuerSignature, authorization);
        _assertNothingMoved(_invoiceId(invoice));
        assertFalse(token.authorizationState(payer, _invoiceId(invoice)), "authorization used");
    }

    // ---------------------------------------------------------------------------------------------------
    // Happy paths
    // ---------------------------------------------------------------------------------------------------

    function test_payWithAuthorization_PaysPayeeInSameTransaction() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 expectedId = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);

        vm.expectEmit(address(registry));
        emit IInvoiceRegistry.InvoicePaid(
            expectedId, payer, payee, address(token), AMOUNT, IInvoiceRegistry.Path.Authorization, payer
        );
        bytes32 id = _submit(invoice, issuerSignature, authorization);

        assertEq(id, expectedId, "returned id");
        assertEq(registry.invoiceId(invoice), expectedId, "invoiceId view");
        assertEq(token.balanceOf(payee), AMOUNT, "payee credited");
        assertEq(token.balanceOf(payer), INITIAL_BALANCE - AMOUNT, "payer debited");
        assertEq(token.balanceOf(address(registry)), 0, "registry holds nothing");
        assertEq(token.balanceOf(relayer), 0, "relayer untouched");
        assertTrue(token.authorizationState(payer, id), "authorization nonce used");
        _assertPaid(id, payer, IInvoiceRegistry.Path.Authorization);
    }

    function test_payWithAuthorization_EmitsTokenEventsInOrder() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);

        vm.expectEmit(address(token));
        emit IERC3009.AuthorizationUsed(payer, id);
        vm.expectEmit(address(token));
        emit IERC20.Transfer(payer, address(registry), AMOUNT);
        vm.expectEmit(address(registry));
        emit IInvoiceRegistry.InvoicePaid(
            id, payer, payee, address(token), AMOUNT, IInvoiceRegistry.Path.Authorization, payer
        );
        vm.expectEmit(address(token));
        emit IERC20.Transfer(address(registry), payee, AMOUNT);
        _submit(invoice, issuerSignature, authorization);
    }

    function test_payWithAuthorization_PayerMaySubmitItself() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);

        vm.prank(payer);
        bytes32 id =
            registry.payWithAuthorization(invoice, issuerSignature, payer, validAfter, validBefore, authorization);

        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Authorization);
    }

    function test_payWithAuthorization_PaysAtDeadline() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.deadline = block.timestamp + 30 minutes;
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);
        vm.warp(invoice.deadline);

        bytes32 id = _submit(invoice, issuerSignature, authorization);

        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Authorization);
    }

    function test_payWithAuthorization_AcceptsContractWalletIssuer() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(issuer);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.issuer = address(wallet);
        bytes memory issuerSignature = _signInvoice(invoice); // the wallet's owner key signs the id
        bytes memory authorization = _authorize(invoice);

        bytes32 id = _submit(invoice, issuerSignature, authorization);

        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Authorization);
    }

    function test_payWithAuthorization_RevertWhen_ContractWalletIssuerSignedByAnotherKey() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(issuer);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.issuer = address(wallet);
        (, uint256 otherKey) = makeAddrAndKey("other-key");

        _expectPayRevert(
            invoice,
            _signInvoiceWith(otherKey, invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, address(wallet))
        );
    }

    function test_payWithAuthorization_AcceptsContractWalletPayer() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(payer);
        _mint(address(wallet), AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes32 id = _invoiceId(invoice);
        bytes memory authorization = _signReceiveAuthorization(
            payerKey, address(wallet), address(registry), AMOUNT, validAfter, validBefore, id
        );

        vm.prank(relayer);
        registry.payWithAuthorization(invoice, issuerSignature, address(wallet), validAfter, validBefore, authorization);

        assertEq(token.balanceOf(address(wallet)), 0);
        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, address(wallet), IInvoiceRegistry.Path.Authorization);
    }

    function test_payWithAuthorization_RevertWhen_PayerIsPayee() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.payee = payer;
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.PayerIsPayee.selector, payer));
        _submit(invoice, issuerSignature, authorization);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE);
        _assertUnpaid(_invoiceId(invoice));
        assertFalse(token.authorizationState(payer, _invoiceId(invoice)), "the authorization stays usable");
    }

    function test_payWithAuthorization_IgnoresBalanceDonatedToRegistry() public {
        _mint(address(registry), 7e6);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);

        _submit(invoice, issuerSignature, authorization);

        assertEq(token.balanceOf(payee), AMOUNT, "payee gets exactly the amount");
        assertEq(token.balanceOf(address(registry)), 7e6, "donation untouched");
    }

    function test_payWithAuthorization_PaysOnForkedChainWithItsNetwork() public {
        vm.chainId(8453);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        assertEq(invoice.network, "eip155:8453");
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);

        bytes32 id = _submit(invoice, issuerSignature, authorization);

        assertEq(id, _invoiceIdIn(invoice, 8453, address(registry)));
        assertEq(token.balanceOf(payee), AMOUNT);
    }

    // ---------------------------------------------------------------------------------------------------
    // Invalid invoices
    // ---------------------------------------------------------------------------------------------------

    function test_payWithAuthorization_RevertWhen_AmountIsZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.amount = 0;
        _expectPayRevert(invoice, _signInvoice(invoice), abi.encodeWithSelector(IInvoiceRegistry.ZeroAmount.selector));
    }

    function test_payWithAuthorization_RevertWhen_PayeeIsZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.payee = address(0);
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, address(0), address(token))
        );
    }

    function test_payWithAuthorization_RevertWhen_PayeeIsRegistry() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.payee = address(registry);
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, address(registry), address(token))
        );
    }

    function test_payWithAuthorization_RevertWhen_TokenIsZero() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.token = address(0);
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, payee, address(0))
        );
    }

    function test_payWithAuthorization_RevertWhen_TokenHasNoCode() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.token = stranger;
        _expectPayRevert(
            invoice,
            _signInvoice(invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidInvoice.selector, payee, stranger)
        );
    }

    function test_payWithAuthorization_RevertWhen_PastDeadline() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.deadline = block.timestamp + 30 minutes;
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);
        vm.warp(invoice.deadline + 1);

        vm.expectRevert(
            abi.encodeWithSelector(IInvoiceRegistry.InvoiceExpired.selector, invoice.deadline, invoice.deadline + 1)
        );
        _submit(invoice, issuerSignature, authorization);
        _assertNothingMoved(_invoiceId(invoice));
    }

    function test_payWithAuthorization_RevertWhen_NetworkIsAnotherChain() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.network = "eip155:1";
        _expectPayRevert(
            invoice, _signInvoice(invoice), abi.encodeWithSelector(IInvoiceRegistry.WrongNetwork.selector, "eip155:1")
        );
    }

    function test_payWithAuthorization_RevertWhen_NetworkIsNotCanonical() public {
        string[5] memory networks = ["EIP155:31337", "eip155:031337", "eip155:31337 ", "", "solana:31337"];
        for (uint256 i; i < networks.length; ++i) {
            IInvoiceRegistry.Invoice memory invoice = _invoice();
            invoice.network = networks[i];
            _expectPayRevert(
                invoice,
                _signInvoice(invoice),
                abi.encodeWithSelector(IInvoiceRegistry.WrongNetwork.selector, networks[i])
            );
        }
    }

    function test_payWithAuthorization_RevertWhen_ChainIdChanged() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice(); // "eip155:31337"
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);
        vm.chainId(1);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.WrongNetwork.selector, "eip155:31337"));
        _submit(invoice, issuerSignature, authorization);
        _assertNothingMoved(_invoiceId(invoice));
    }

    // ---------------------------------------------------------------------------------------------------
    // Paid and cancelled invoices
    // ---------------------------------------------------------------------------------------------------

    function test_payWithAuthorization_RevertWhen_AuthorizationReplayed() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);
        bytes32 id = _submit(invoice, issuerSignature, authorization);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        _submit(invoice, issuerSignature, authorization);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE - AMOUNT);
        assertEq(token.balanceOf(payee), AMOUNT);
    }

    function test_payWithAuthorization_RevertWhen_AlreadyPaidByAnotherPayer() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes32 id = _submit(invoice, issuerSignature, _authorize(invoice));
        (address second, uint256 secondKey) = makeAddrAndKey("second-payer");
        _mint(second, AMOUNT);
        bytes memory secondAuthorization =
            _signReceiveAuthorization(secondKey, second, address(registry), AMOUNT, validAfter, validBefore, id);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        vm.prank(relayer);
        registry.payWithAuthorization(invoice, issuerSignature, second, validAfter, validBefore, secondAuthorization);

        assertEq(token.balanceOf(second), AMOUNT);
        assertFalse(token.authorizationState(second, id));
        _assertPaid(id, payer, IInvoiceRegistry.Path.Authorization);
    }

    function test_payWithAuthorization_RevertWhen_AlreadyPaidWithAllowance() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);
        (address other,) = makeAddrAndKey("other-payer");
        _mint(other, AMOUNT);
        vm.startPrank(other);
        token.approve(address(registry), AMOUNT);
        bytes32 id = registry.pay(invoice, issuerSignature);
        vm.stopPrank();

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceAlreadyPaid.selector, id));
        _submit(invoice, issuerSignature, authorization);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE, "payer not charged twice");
        assertFalse(token.authorizationState(payer, id), "payer's authorization left unused");
        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, other, IInvoiceRegistry.Path.Allowance);
    }

    function test_payWithAuthorization_RevertWhen_Cancelled() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        vm.prank(issuer);
        bytes32 id = registry.cancel(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceIsCancelled.selector, id));
        _submit(invoice, issuerSignature, authorization);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE);
        assertFalse(token.authorizationState(payer, id));
        _assertCancelled(id);
    }

    // ---------------------------------------------------------------------------------------------------
    // Issuer signature
    // ---------------------------------------------------------------------------------------------------

    function test_payWithAuthorization_RevertWhen_IssuerSignatureFromWrongSigner() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        (, uint256 otherKey) = makeAddrAndKey("impostor");
        _expectPayRevert(
            invoice,
            _signInvoiceWith(otherKey, invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function test_payWithAuthorization_RevertWhen_InvoiceTampered() public {
        TestStablecoin otherToken = new TestStablecoin(TOKEN_NAME, TOKEN_SYMBOL, TOKEN_VERSION, owner);
        IInvoiceRegistry.Invoice memory original = _invoice();
        bytes memory issuerSignature = _signInvoice(original);

        IInvoiceRegistry.Invoice[7] memory tampered;
        for (uint256 i; i < tampered.length; ++i) {
            tampered[i] = _invoice();
        }
        tampered[0].amount = AMOUNT - 1;
        tampered[1].payee = stranger;
        tampered[2].salt = keccak256("another salt");
        tampered[3].resource = keccak256("another resource");
        tampered[4].deadline = original.deadline + 1;
        tampered[5].token = address(otherToken);
        tampered[6].issuer = stranger;

        for (uint256 i; i < tampered.length; ++i) {
            _expectPayRevert(
                tampered[i],
                issuerSignature,
                abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, tampered[i].issuer)
            );
        }
    }

    function test_payWithAuthorization_RevertWhen_IssuerSignedForAnotherRegistry() public {
        InvoiceRegistry otherRegistry = new InvoiceRegistry(owner);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 otherId = _invoiceIdIn(invoice, block.chainid, address(otherRegistry));
        assertEq(otherRegistry.invoiceId(invoice), otherId);

        _expectPayRevert(
            invoice,
            _signPacked(issuerKey, otherId),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function test_payWithAuthorization_RevertWhen_IssuerSignedForAnotherChain() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        _expectPayRevert(
            invoice,
            _signPacked(issuerKey, _invoiceIdIn(invoice, 8453, address(registry))),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function test_payWithAuthorization_RevertWhen_IssuerSignatureMalformed() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(issuerKey, id);
        bytes[5] memory signatures = [
            bytes(""),
            abi.encodePacked(r, s), // 64 bytes (no ERC-2098 compact signatures)
            abi.encodePacked(r, s, v, uint8(0)), // 66 bytes
            abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27)), // high s
            abi.encodePacked(r, s, uint8(0)) // bad v
        ];
        for (uint256 i; i < signatures.length; ++i) {
            _expectPayRevert(
                invoice, signatures[i], abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
            );
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Payer authorization (checked by the token)
    // ---------------------------------------------------------------------------------------------------

    function test_payWithAuthorization_RevertWhen_AuthorizationFromWrongSigner() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        (, uint256 otherKey) = makeAddrAndKey("impostor");
        bytes memory authorization =
            _signReceiveAuthorization(otherKey, payer, address(registry), AMOUNT, validAfter, validBefore, id);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        _submit(invoice, issuerSignature, authorization);
        _assertNothingMoved(id);
    }

    function test_payWithAuthorization_RevertWhen_AuthorizationForAnotherNonce() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _signReceiveAuthorization(
            payerKey, payer, address(registry), AMOUNT, validAfter, validBefore, keccak256("random nonce")
        );

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        _submit(invoice, issuerSignature, authorization);
        _assertNothingMoved(id);
        assertFalse(token.authorizationState(payer, keccak256("random nonce")));
    }

    function test_payWithAuthorization_RevertWhen_AuthorizationToAnotherRecipient() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        // Signed straight to the payee: only the payee may submit that one, never through the registry.
        bytes memory authorization =
            _signReceiveAuthorization(payerKey, payer, payee, AMOUNT, validAfter, validBefore, id);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        _submit(invoice, issuerSignature, authorization);
        _assertNothingMoved(id);
    }

    function test_payWithAuthorization_RevertWhen_AuthorizationForAnotherValue() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization =
            _signReceiveAuthorization(payerKey, payer, address(registry), AMOUNT - 1, validAfter, validBefore, id);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        _submit(invoice, issuerSignature, authorization);
        _assertNothingMoved(id);
    }

    function test_payWithAuthorization_RevertWhen_AuthorizationIsTransferType() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _signPacked(
            payerKey,
            _authorizationDigest(
                "TransferWithAuthorization", payer, address(registry), AMOUNT, validAfter, validBefore, id
            )
        );

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        _submit(invoice, issuerSignature, authorization);
        _assertNothingMoved(id);
    }

    function test_payWithAuthorization_RevertWhen_SubmittedForAnotherPayer() public {
        // A relayer cannot charge someone else with the payer's signature.
        _mint(stranger, AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, stranger));
        vm.prank(relayer);
        registry.payWithAuthorization(invoice, issuerSignature, stranger, validAfter, validBefore, authorization);

        assertEq(token.balanceOf(stranger), AMOUNT);
        _assertNothingMoved(id);
    }

    function test_payWithAuthorization_RevertWhen_AuthorizationExpired() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);
        vm.warp(validBefore); // invoice still payable, authorization no longer valid

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationExpired.selector, validBefore, validBefore));
        _submit(invoice, issuerSignature, authorization);
        _assertNothingMoved(id);
    }

    function test_payWithAuthorization_RevertWhen_AuthorizationNotYetValid() public {
        validAfter = block.timestamp + 10 minutes;
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationNotYetValid.selector, validAfter, block.timestamp));
        _submit(invoice, issuerSignature, authorization);
        _assertNothingMoved(id);
    }

    function test_payWithAuthorization_RevertWhen_AuthorizationCancelledByPayer() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);
        bytes32 cancelDigest = _tokenDigest(keccak256(abi.encode(token.CANCEL_AUTHORIZATION_TYPEHASH(), payer, id)));
        token.cancelAuthorization(payer, id, _signPacked(payerKey, cancelDigest));

        vm.expectRevert(abi.encodeWithSelector(IERC3009.AuthorizationAlreadyUsed.selector, payer, id));
        _submit(invoice, issuerSignature, authorization);

        assertEq(token.balanceOf(payer), INITIAL_BALANCE);
        _assertUnpaid(id);
    }

    function test_payWithAuthorization_RevertWhen_PayerBalanceInsufficient() public {
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.amount = INITIAL_BALANCE + 1;
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);

        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientBalance.selector, payer, INITIAL_BALANCE, INITIAL_BALANCE + 1
            )
        );
        _submit(invoice, issuerSignature, authorization);
        _assertNothingMoved(id);
    }

    function test_payWithAuthorization_RevertWhen_AmountDoesNotArrive() public {
        // A token whose balance does not move (e.g. fee-on-transfer) is refused.
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);
        vm.mockCall(address(token), abi.encodeCall(IERC20.balanceOf, (address(registry))), abi.encode(uint256(0)));

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.AmountMismatch.selector, AMOUNT, 0));
        _submit(invoice, issuerSignature, authorization);

        vm.clearMockedCalls();
        _assertNothingMoved(_invoiceId(invoice));
    }

    function test_payWithAuthorization_RevertWhen_AmountDoesNotReachPayee() public {
        // The registry receives the amount, but the payee's balance does not grow by it.
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);
        vm.mockCall(address(token), abi.encodeCall(IERC20.balanceOf, (payee)), abi.encode(uint256(0)));

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.AmountMismatch.selector, AMOUNT, 0));
        _submit(invoice, issuerSignature, authorization);

        vm.clearMockedCalls();
        _assertNothingMoved(_invoiceId(invoice));
        assertFalse(token.authorizationState(payer, _invoiceId(invoice)));
    }

    // ---------------------------------------------------------------------------------------------------
    // Security
    // ---------------------------------------------------------------------------------------------------

    function test_payWithAuthorization_RevertWhen_AuthorizationForInvoiceAUsedOnInvoiceB() public {
        IInvoiceRegistry.Invoice memory invoiceA = _invoice();
        IInvoiceRegistry.Invoice memory invoiceB = _invoice();
        invoiceB.salt = keccak256("invoice B"); // same terms, another invoice
        bytes memory authorizationA = _authorize(invoiceA);
        bytes memory issuerSignatureB = _signInvoice(invoiceB);

        vm.expectRevert(abi.encodeWithSelector(IERC3009.InvalidAuthorizationSignature.selector, payer));
        _submit(invoiceB, issuerSignatureB, authorizationA);

        _assertNothingMoved(_invoiceId(invoiceB));
        // Invoice A can still be paid with it.
        _submit(invoiceA, _signInvoice(invoiceA), authorizationA);
        assertTrue(registry.isPaid(_invoiceId(invoiceA)));
        assertFalse(registry.isPaid(_invoiceId(invoiceB)));
    }

    // ---------------------------------------------------------------------------------------------------
    // Fuzz
    // ---------------------------------------------------------------------------------------------------

    function testFuzz_payWithAuthorization_PaysAnyAmount(uint256 amount) public {
        amount = bound(amount, 1, INITIAL_BALANCE);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.amount = amount;
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);

        bytes32 id = _submit(invoice, issuerSignature, authorization);

        assertEq(token.balanceOf(payee), amount);
        assertEq(token.balanceOf(payer), INITIAL_BALANCE - amount);
        assertEq(token.balanceOf(address(registry)), 0);
        _assertPaid(id, payer, IInvoiceRegistry.Path.Authorization);
    }

    function testFuzz_payWithAuthorization_AnyTerms(uint256 deadline, bytes32 salt, bytes32 resource) public {
        deadline = bound(deadline, block.timestamp, type(uint256).max);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.deadline = deadline;
        invoice.salt = salt;
        invoice.resource = resource;
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);

        bytes32 id = _submit(invoice, issuerSignature, authorization);

        assertEq(id, _invoiceId(invoice));
        assertTrue(token.authorizationState(payer, id));
        _assertPaid(id, payer, IInvoiceRegistry.Path.Authorization);
    }

    function testFuzz_payWithAuthorization_AnySignerKeys(uint256 fuzzIssuerKey, uint256 fuzzPayerKey) public {
        fuzzIssuerKey = boundPrivateKey(fuzzIssuerKey);
        fuzzPayerKey = boundPrivateKey(fuzzPayerKey);
        address fuzzPayer = vm.addr(fuzzPayerKey);
        vm.assume(fuzzPayer != payee);
        _mint(fuzzPayer, AMOUNT);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.issuer = vm.addr(fuzzIssuerKey);
        bytes32 id = _invoiceId(invoice);
        bytes memory issuerSignature = _signInvoiceWith(fuzzIssuerKey, invoice);
        bytes memory authorization =
            _signReceiveAuthorization(fuzzPayerKey, fuzzPayer, address(registry), AMOUNT, validAfter, validBefore, id);
        uint256 payerBefore = token.balanceOf(fuzzPayer);

        vm.prank(relayer);
        registry.payWithAuthorization(invoice, issuerSignature, fuzzPayer, validAfter, validBefore, authorization);

        assertEq(token.balanceOf(fuzzPayer), payerBefore - AMOUNT);
        assertEq(token.balanceOf(payee), AMOUNT);
        _assertPaid(id, fuzzPayer, IInvoiceRegistry.Path.Authorization);
    }

    function testFuzz_payWithAuthorization_RevertWhen_WrongIssuerKey(uint256 wrongKey) public {
        wrongKey = boundPrivateKey(wrongKey);
        vm.assume(wrongKey != issuerKey);
        IInvoiceRegistry.Invoice memory invoice = _invoice();

        _expectPayRevert(
            invoice,
            _signInvoiceWith(wrongKey, invoice),
            abi.encodeWithSelector(IInvoiceRegistry.InvalidIssuerSignature.selector, issuer)
        );
    }

    function testFuzz_payWithAuthorization_RevertWhen_PastDeadline(uint256 deadline, uint256 lateBy) public {
        deadline = bound(deadline, block.timestamp, block.timestamp + 365 days);
        lateBy = bound(lateBy, 1, 365 days);
        IInvoiceRegistry.Invoice memory invoice = _invoice();
        invoice.deadline = deadline;
        bytes memory issuerSignature = _signInvoice(invoice);
        bytes memory authorization = _authorize(invoice);
        vm.warp(deadline + lateBy);

        vm.expectRevert(abi.encodeWithSelector(IInvoiceRegistry.InvoiceExpired.selector, deadline, deadline + lateBy));
        _submit(invoice, issuerSignature, authorization);
        _assertNothingMoved(_invoiceId(invoice));
    }
}
