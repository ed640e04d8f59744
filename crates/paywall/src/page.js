"use strict";
(function () {
  var offer = JSON.parse(document.getElementById("x402-offer").textContent);
  var button = document.getElementById("pay");
  var status = document.getElementById("status");
  var content = document.getElementById("content");
  var REASONS = {
    insufficient_funds: "your balance of the token is too low",
    invalid_exact_evm_insufficient_balance: "your balance of the token is too low",
    invalid_exact_evm_signature: "the wallet's signature does not match the payment",
    invalid_exact_evm_failed_to_parse_signature: "the wallet's signature could not be read",
    invalid_exact_evm_payload_authorization_valid_before: "the signed payment expired; pay again",
    invalid_exact_evm_payload_authorization_valid_after: "the signed payment is not valid yet; check your clock",
    invalid_exact_evm_payload_authorization_value_mismatch: "the signed amount is not the price",
    invalid_exact_evm_recipient_mismatch: "the payment goes to someone other than the seller",
    invalid_exact_evm_nonce_already_used: "this signed payment was already used; pay again",
    invalid_exact_evm_network_mismatch: "the wallet signed for another network",
    invalid_network: "the wallet is on another network",
    invalid_payload: "the payment could not be read",
    settlement_pending: "the payment is being settled; reload in a moment"
  };
  button.hidden = false; // without JavaScript the page shows the price and the noscript instructions only
  function say(text) { status.textContent = text; }
  // Keccak-256 (for EIP-55 checksummed addresses).
  var M = (1n << 64n) - 1n;
  var ROT = [1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44];
  var PI = [10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1];
  var RC = [];
  (function () {
    var r = 1;
    for (var i = 0; i < 24; i++) {
      var c = 0n;
      for (var j = 0; j < 7; j++) {
        if (r & 1) c |= 1n << BigInt((1 << j) - 1);
        r = ((r << 1) ^ ((r >> 7) * 0x71)) & 0xff;
      }
      RC.push(c);
    }
  })();
  function rot(x, n) { return ((x << BigInt(n)) | (x >> BigInt(64 - n))) & M; }
  function permute(s) {
    var b = [0n, 0n, 0n, 0n, 0n], i, j, t;
    for (var round = 0; round < 24; round++) {
      for (i = 0; i < 5; i++) b[i] = s[i] ^ s[i + 5] ^ s[i + 10] ^ s[i + 15] ^ s[i + 20];
      for (i = 0; i < 5; i++) {
        t = b[(i + 4) % 5] ^ rot(b[(i + 1) % 5], 1);
        for (j = 0; j < 25; j += 5) s[j + i] ^= t;
      }
      t = s[1];
      for (i = 0; i < 24; i++) { j = PI[i]; var keep = s[j]; s[j] = rot(t, ROT[i]); t = keep; }
      for (j = 0; j < 25; j += 5) {
        for (i = 0; i < 5; i++) b[i] = s[j + i];
        for (i = 0; i < 5; i++) s[j + i] ^= (~b[(i + 1) % 5] & M) & b[(i + 2) % 5];
      }
      s[0] ^= RC[round];
    }
  }
  function keccak256(bytes) {
    var rate = 136, s = new Array(25).fill(0n);
    var padded = new Uint8Array(Math.floor(bytes.length / rate) * rate + rate);
    padded.set(bytes);
    padded[bytes.length] ^= 0x01;
    padded[padded.length - 1] ^= 0x80;
    for (var off = 0; off < padded.length; off += rate) {
      for (var k = 0; k < rate / 8; k++) {
        var lane = 0n;
        for (var m = 7; m >= 0; m--) lane = (lane << 8n) | BigInt(padded[off + k * 8 + m]);
        s[k] ^= lane;
      }
      permute(s);
    }
    var out = "";
    for (var n = 0; n < 4; n++) for (var q = 0; q < 8; q++) out += ((s[n] >> BigInt(8 * q)) & 0xffn).toString(16).padStart(2, "0");
    return out;
  }
  function checksum(address) {
    var lower = String(address).toLowerCase().replace(/^0x/, "");
    if (!/^[0-9a-f]{40}$/.test(lower)) throw new Error("not an address: " + address);
    var hash = keccak256(new TextEncoder().encode(lower)), out = "0x";
    for (var i = 0; i < 40; i++) out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
    return out;
  }
  window.quittanceChecksum = checksum;
  function hex(bytes) { return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join(""); }
  function base64(text) {
    var bytes = new TextEncoder().encode(text), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin);
  }
  function reason(response) {
    try {
      var code = JSON.parse(atob(response.headers.get("PAYMENT-REQUIRED"))).error;
      return code ? (REASONS[code] || code.replace(/_/g, " ")) + " (" + code + ")" : "payment refused";
    } catch (e) { return "the server answered " + response.status; }
  }
  var option = (offer.accepts || []).find(function (o) {
    return o.scheme === "exact" && o.extra && o.extra.name && o.extra.version && !o.extra.assetTransferMethod;
  });
  if (!option) { button.disabled = true; say("This page's wallet button pays with exact (EIP-3009) only; use an x402 client."); return; }
  async function pay() {
    var eth = window.ethereum;
    if (!eth) { say("No browser wallet found: install one, or pay with an x402 client."); return; }
    button.disabled = true;
    try {
      say("Asking the wallet for an account…");
      var accounts = await eth.request({ method: "eth_requestAccounts" });
      var from = checksum(accounts[0]);
      var chainId = BigInt(option.network.split(":")[1]);
      var want = "0x" + chainId.toString(16);
      if (BigInt(await eth.request({ method: "eth_chainId" })) !== chainId) {
        await eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId: want }] });
        if (BigInt(await eth.request({ method: "eth_chainId" })) !== chainId) throw new Error("the wallet is not on " + option.network);
      }
      var now = Math.floor(Date.now() / 1000);
      var authorization = {
        from: from, to: checksum(option.payTo), value: String(option.amount), validAfter: "0",
        validBefore: String(now + option.maxTimeoutSeconds),
        nonce: "0x" + hex(crypto.getRandomValues(new Uint8Array(32)))
      };
      var typed = {
        types: {
          EIP712Domain: [{ name: "name", type: "string" }, { name: "version", type: "string" },
            { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }],
          TransferWithAuthorization: [{ name: "from", type: "address" }, { name: "to", type: "address" },
            { name: "value", type: "uint256" }, { name: "validAfter", type: "uint256" },
            { name: "validBefore", type: "uint256" }, { name: "nonce", type: "bytes32" }]
        },
        primaryType: "TransferWithAuthorization",
        domain: { name: option.extra.name, version: option.extra.version, chainId: Number(chainId), verifyingContract: checksum(option.asset) },
        message: authorization
      };
      say("Sign the payment in your wallet…");
      var signature = await eth.request({ method: "eth_signTypedData_v4", params: [from, JSON.stringify(typed)] });
      var payment = { x402Version: 2, resource: offer.resource, accepted: option, payload: { signature: signature, authorization: authorization } };
      say("Paying…");
      var response = await fetch(location.href, { headers: { "PAYMENT-SIGNATURE": base64(JSON.stringify(payment)) } });
      if (response.ok) {
        content.textContent = await response.text();
        content.hidden = false;
        say("Paid. Here is what you bought:");
      } else {
        say("Not paid: " + reason(response) + ".");
        button.disabled = false;
      }
    } catch (e) {
      say("Not paid: " + (e && e.message ? e.message : String(e)) + ".");
      button.disabled = false;
    }
  }
  button.addEventListener("click", pay);
})();
