use quittance_x402::{Network, NetworkError};

#[test]
fn parses_caip2_and_evm_chain_ids() {
    let base: Network = "eip155:8453".parse().expect("valid");
    assert_eq!((base.namespace(), base.reference()), ("eip155", "8453"));
    assert_eq!(base.chain_id(), Ok(8453));
    assert_eq!(base, Network::eip155(8453));
    assert_eq!(base.to_string(), "eip155:8453");
    let solana: Network = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp".parse().expect("valid");
    assert!(matches!(solana.chain_id(), Err(NetworkError::NotEvm(_))));
}

#[test]
fn refuses_malformed_networks() {
    for bad in ["", "base", "eip155", ":1", "eip155:", "EIP155:1", "ab:1", "eip155:1 ", "eip155:1:2", "toolongns:1"] {
        assert!(matches!(bad.parse::<Network>(), Err(NetworkError::Malformed(_))), "{bad:?}");
    }
    for not_a_chain in ["eip155:abc", "eip155:01", "eip155:99999999999999999999999"] {
        let network: Network = not_a_chain.parse().expect("well-formed CAIP-2");
        assert!(network.chain_id().is_err(), "{not_a_chain}");
    }
}

#[test]
fn maps_v1_names_both_ways() {
    assert_eq!(Network::from_v1_name("base"), Ok(Network::eip155(8453)));
    assert_eq!(Network::from_v1_name("base-sepolia"), Ok(Network::eip155(84532)));
    assert_eq!(Network::eip155(43114).v1_name(), Some("avalanche"));
    assert_eq!(Network::eip155(31337).v1_name(), None);
    assert!(matches!(Network::from_v1_name("basee"), Err(NetworkError::UnknownV1Name(_))));
}

#[test]
fn serde_uses_the_caip2_string() {
    let json = serde_json::to_string(&Network::eip155(1)).expect("serializes");
    assert_eq!(json, "\"eip155:1\"");
    assert!(serde_json::from_str::<Network>("\"nope\"").is_err());
}
