// Package account owns the accounts of one data dir: creating an account from
// a new BIP-39 mnemonic, recovering it on another data dir (same account id,
// new device), selecting one on start, and stopping it. Per account it owns
// the key file (accounts/<id>/keys, mode 0600) and the account database
// (accounts/<id>/account, badger).
//
// It never logs key material (Keys and crypto.PrivKey print redacted), never
// writes a key file non-atomically, and never holds its state lock across
// disk I/O: state-changing operations are serialised by a separate lock, so
// Current answers while an account is being opened.
package account
