package account

import (
	"encoding/json"
	"fmt"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// keysVersion is the format version of the keys file.
const keysVersion = 1

// Keys is an account's key material on this device. Its String never
// prints the private keys.
type Keys struct {
	Account    crypto.PrivKey
	Device     crypto.PrivKey
	DeviceCert []byte // the account's signature over the device key
}

// keysFile is the on-disk JSON form; []byte fields are base64.
type keysFile struct {
	Version    int    `json:"version"`
	Account    []byte `json:"account"`
	Device     []byte `json:"device"`
	DeviceCert []byte `json:"deviceCert"`
}

func (k Keys) String() string {
	return fmt.Sprintf("Keys{account=%s device=%s}", k.Account.Public(), k.Device.Public())
}

func encodeKeys(k Keys) ([]byte, error) {
	return json.MarshalIndent(keysFile{
		Version:    keysVersion,
		Account:    k.Account.Marshal(),
		Device:     k.Device.Marshal(),
		DeviceCert: k.DeviceCert,
	}, "", "  ")
}

// decodeKeys parses and checks a keys file: both keys well formed, and the
// device certificate signed by this account for this device.
func decodeKeys(b []byte) (Keys, error) {
	var f keysFile
	if err := json.Unmarshal(b, &f); err != nil {
		return Keys{}, fmt.Errorf("keys file: %w", err)
	}
	if f.Version != keysVersion {
		return Keys{}, fmt.Errorf("keys file: version %d, want %d", f.Version, keysVersion)
	}
	acc, err := crypto.UnmarshalPrivKey(f.Account)
	if err != nil {
		return Keys{}, fmt.Errorf("keys file: account key: %w", err)
	}
	dev, err := crypto.UnmarshalPrivKey(f.Device)
	if err != nil {
		return Keys{}, fmt.Errorf("keys file: device key: %w", err)
	}
	cert, err := crypto.VerifyDeviceCert(f.DeviceCert)
	if err != nil {
		return Keys{}, fmt.Errorf("keys file: device certificate: %w", err)
	}
	if cert.Account != acc.Public() || cert.Device != dev.Public() {
		return Keys{}, fmt.Errorf("keys file: device certificate is for another account or device")
	}
	return Keys{Account: acc, Device: dev, DeviceCert: f.DeviceCert}, nil
}
