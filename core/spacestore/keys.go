package spacestore

import "encoding/binary"

// Key layout. Every key starts with a one-byte prefix.
//
//	'h'                          → signed space header
//	'a' seq(8, big endian)       → accepted ACL record (Signed AclAccepted envelope)
//	'P'                          → present while the ACL root is only provisionally accepted (not yet on the node)
//	'c' object 0x00 change       → signed change envelope
//	'o' object                   → object meta (encodeMeta)
//	's' object                   → heads the node acknowledged as durably stored (encodeHeads)
//	'q' object                   → present while the object has local changes the node has not acknowledged
//	'm' name                     → small store metadata (schema version …)
//	'r' 'b' 'u' 'x'              → file references and queues (files.go)
//	'm' "seq"                    → uint64 BE: the last sequence number given (absent = 0)
//	'm' "digest"                 → head-sync digest of every object: count uint64 BE | XOR hash (32)
//	'l' seq(8, big endian)       → object id: the object's indexable state changed at seq
//	                               (the index's watermark counts these; log.go)
//	'L' object                   → uint64 BE: the object's latest seq, so an object keeps one
//	                               log entry however often it changes
const (
	prefixHeader      = 'h'
	prefixAcl         = 'a'
	prefixProvisional = 'P'
	prefixChange      = 'c'
	prefixObject      = 'o'
	prefixAcked       = 's'
	prefixPending     = 'q'
	prefixMeta        = 'm'
	prefixLog         = 'l'
	prefixLogLatest   = 'L'
)

// schemaVersion is the store's format version, stored under 'm' "schema".
const schemaVersion = "1"

func headerKey() []byte      { return []byte{prefixHeader} }
func provisionalKey() []byte { return []byte{prefixProvisional} }
func schemaKey() []byte      { return append([]byte{prefixMeta}, "schema"...) }

func seqKey() []byte    { return append([]byte{prefixMeta}, "seq"...) }
func digestKey() []byte { return append([]byte{prefixMeta}, "digest"...) }

func logKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixLog}, seq)
}

func logLatestKey(object string) []byte { return append([]byte{prefixLogLatest}, object...) }

func aclKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixAcl}, seq)
}

func changePrefix(object string) []byte {
	k := append([]byte{prefixChange}, object...)
	return append(k, 0)
}

func changeKey(object, change string) []byte {
	return append(changePrefix(object), change...)
}

func objectKey(object string) []byte  { return append([]byte{prefixObject}, object...) }
func ackedKey(object string) []byte   { return append([]byte{prefixAcked}, object...) }
func pendingKey(object string) []byte { return append([]byte{prefixPending}, object...) }
