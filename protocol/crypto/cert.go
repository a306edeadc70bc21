package crypto

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// deviceCertMagic starts every device certificate and is part of the signed bytes.
const deviceCertMagic = "hearth/device-cert/v1\x00"

// DeviceCertSize is the exact size of an encoded certificate.
const DeviceCertSize = len(deviceCertMagic) + 2*PubKeySize + 8 + SignatureSize

// DeviceCert says that Account vouches for Device since IssuedAt (unix milliseconds,
// supplied by the caller: protocol never reads the clock).
type DeviceCert struct {
	Account  PubKey
	Device   PubKey
	IssuedAt int64
}

// NewDeviceCert returns the signed certificate bytes:
// magic | account(32) | device(32) | issuedAt(8, big endian) | ed25519 signature(64)
// where the signature is the account key's over everything before it.
func NewDeviceCert(account PrivKey, device PubKey, issuedAt int64) ([]byte, error) {
	if account.IsZero() || device.IsZero() {
		return nil, fmt.Errorf("%w: device cert needs an account key and a device key", ErrInvalid)
	}
	b := make([]byte, 0, DeviceCertSize)
	b = append(b, deviceCertMagic...)
	pub := account.Public()
	b = append(b, pub[:]...)
	b = append(b, device[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(issuedAt))
	b = append(b, account.Sign(b)...)
	return b, nil
}

// VerifyDeviceCert parses raw and checks the account's signature.
func VerifyDeviceCert(raw []byte) (DeviceCert, error) {
	var c DeviceCert
	if len(raw) != DeviceCertSize {
		return c, fmt.Errorf("%w: device cert is %d bytes, want %d", ErrInvalid, len(raw), DeviceCertSize)
	}
	if !bytes.HasPrefix(raw, []byte(deviceCertMagic)) {
		return c, fmt.Errorf("%w: not a device cert", ErrInvalid)
	}
	p := raw[len(deviceCertMagic):]
	copy(c.Account[:], p[:32])
	copy(c.Device[:], p[32:64])
	c.IssuedAt = int64(binary.BigEndian.Uint64(p[64:72]))
	signed := raw[:len(raw)-SignatureSize]
	if !c.Account.Verify(signed, raw[len(raw)-SignatureSize:]) {
		return DeviceCert{}, fmt.Errorf("%w: device cert signature does not verify", ErrInvalid)
	}
	return c, nil
}
