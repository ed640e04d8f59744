// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice A minimal ERC-20 for the formal checks: plain balances and allowances, an EIP-2612 `permit` that
/// refuses every call (the contracts tolerate a failed permit and still need the allowance), and an EIP-3009
/// `receiveWithAuthorization` that moves the funds to the caller without checking the payer's signature: the
/// proofs are about the contracts that call the token, not the token's own signature checks.
contract HalmosToken {
    mapping(address account => uint256 amount) public balanceOf;
    mapping(address owner => mapping(address spender => uint256 amount)) public allowance;

    error InsufficientBalance();
    error InsufficientAllowance();
    error WrongReceiver();
    error PermitRefused();

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed < amount) revert InsufficientAllowance();
        if (allowed != type(uint256).max) allowance[from][msg.sender] = allowed - amount;
        _move(from, to, amount);
        return true;
    }

    function permit(address, address, uint256, uint256, uint8, bytes32, bytes32) external pure {
        revert PermitRefused();
    }

    function receiveWithAuthorization(address from, address to, uint256 value, uint256, uint256, bytes32, bytes memory)
        external
    {
        if (to != msg.sender) revert WrongReceiver();
        _move(from, to, value);
    }

    function _move(address from, address to, uint256 amount) private {
        if (balanceOf[from] < amount) revert InsufficientBalance();
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
    }
}
