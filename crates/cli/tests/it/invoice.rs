//! The invoice scheme of `quittance-x402` against the real `InvoiceRegistry` on anvil: the Rust invoice id
//! is the contract's, and an agent's payload pays the invoice through `payWithAuthorization`.

use alloy::{
    network::EthereumWallet,
    primitives::{U256, keccak256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use quittance_bindings::{
    InvoiceRegistry, TestStablecoin,
    invoice_registry::{IInvoiceRegistry, InvoiceRegistry::InvoiceRegistryErrors},
};
use quittance_chain::anvil::spawn_anvil;
use quittance_x402::{ResourceInfo, invoice};
use std::time::Duration;

fn to_contract(i: &invoice::Invoice) -> IInvoiceRegistry::Invoice {
    IInvoiceRegistry::Invoice {
        issuer: i.issuer,
        payee: i.payee,
        token: i.token,
        amount: i.amount,
        deadline: i.deadline,
        resource: i.resource,
        network: i.network.clone(),
        salt: i.salt,
    }
}

#[tokio::test]
async fn an_x402_invoice_payment_pays_the_registry_invoice_once() -> eyre::Result<()> {
    let anvil = spawn_anvil()?;
    let owner = PrivateKeySigner::from(anvil.keys()[0].clone());
    let rpc = ProviderBuilder::new().wallet(EthereumWallet::from(owner.clone())).connect_http(anvil.endpoint_url());
    let timeout = Some(Duration::from_secs(30));

    let token = TestStablecoin::deploy(&rpc, "USD Coin".into(), "USDC".into(), "2".into(), owner.address()).await?;
    let registry = InvoiceRegistry::deploy(&rpc, owner.address()).await?;
    let seller = PrivateKeySigner::from_bytes(&keccak256("seller"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("payee"))?.address();
    let agent = PrivateKeySigner::from_bytes(&keccak256("agent"))?;
    token.mint(agent.address(), U256::from(1_000_000u64)).send().await?.with_timeout(timeout).get_receipt().await?;

    let url = "http://127.0.0.1/report";
    let now = rpc.get_block_by_number(Default::default()).await?.expect("latest block").header.timestamp;
    let the_invoice = invoice::Invoice {
        issuer: seller.address(),
        payee,
        token: *token.address(),
        amount: U256::from(10_000u64),
        deadline: U256::from(now + 600),
        resource: invoice::resource_hash(url),
        network: registry.network().call().await?,
        salt: keccak256("order 1"),
    };
    assert_eq!(
        registry.invoiceId(to_contract(&the_invoice)).call().await?,
        the_invoice.id(anvil.chain_id(), *registry.address()),
        "the Rust invoice id is the registry's"
    );

    // Seller offers, agent pays, facilitator checks what needs no chain.
    let requirements = invoice::offer(the_invoice.clone(), *registry.address(), "USD Coin", "2", 120, &seller)?;
    let resource = ResourceInfo { url: url.into(), description: None, mime_type: None };
    let payment = invoice::pay(&requirements, &resource, &agent, agent.address(), now)?;
    let checked = invoice::check(&payment, &requirements, now).map_err(|r| eyre::eyre!("{r}"))?;
    checked.check_eoa_signature().map_err(|r| eyre::eyre!("{r}"))?;

    // The facilitator pays the invoice through the registry.
    let a = &checked.authorization;
    let pay = registry.payWithAuthorization(
        to_contract(&checked.terms.invoice),
        checked.terms.issuer_signature.clone(),
        a.from,
        a.valid_after,
        a.valid_before,
        checked.signature.clone(),
    );
    pay.call().await?;
    let receipt = pay.send().await?.with_timeout(timeout).get_receipt().await?;
    assert!(receipt.status());
    let paid = receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| log.log_decode::<InvoiceRegistry::InvoicePaid>().ok())
        .expect("InvoicePaid");
    assert_eq!(paid.inner.invoiceId, checked.terms.invoice_id);
    assert_eq!(
        (paid.inner.payer, paid.inner.payee, paid.inner.amount),
        (agent.address(), payee, U256::from(10_000u64))
    );
    assert_eq!(token.balanceOf(payee).call().await?, U256::from(10_000u64));
    assert!(registry.isPaid(checked.terms.invoice_id).call().await?);
    assert!(token.authorizationState(agent.address(), checked.terms.invoice_id).call().await?);

    // The same payment again is refused by the registry, before any token moves.
    let again = pay.call().await.expect_err("an invoice is paid once");
    match again.as_decoded_interface_error::<InvoiceRegistryErrors>() {
        Some(InvoiceRegistryErrors::InvoiceAlreadyPaid(e)) => {
            assert_eq!(e.invoiceId, checked.terms.invoice_id)
        }
        other => panic!("expected InvoiceAlreadyPaid, got {other:?} ({again})"),
    }
    Ok(())
}
