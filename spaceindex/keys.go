package spaceindex

// On-disk layout of one space index. Every key of the badger database is
// built here and nowhere else.
//
// Directory: <root>/<spaceId>/<incarnation>/index/
//
//	CURRENT          names the generation directory in use (e.g. "g1"), so a
//	                 rebuild can write a new generation and switch atomically
//	                 by rewriting CURRENT (write temp file, rename)
//	g1/              the badger database
//
// Keys of the badger database (esc(s) is s with 0x00 escaped as 0x00 0xFF
// and terminated by 0x00 0x01; enc(v) is AppendValue; 0xFF is the
// "key missing" marker, which sorts after every encoded value):
//
//	0x00 "schema"                                   -> uvarint schemaVersion, config fingerprint
//	0x00 "feedseq"                                  -> uint64 BE: the change feed's sequence number (feed.go)
//	0x00 "watermark"                                -> uint64 BE: the store sequence number indexed through (watermark.go)
//	'c'                                             -> uint64 BE: number of records
//	'r' id                                          -> record (appendRecord)
//	'x' esc(key) enc(value)|0xFF id                 -> empty: secondary index entry for every
//	                                                   indexed key of every record
//	'y' esc(pkey) enc(pvalue) esc(skey) enc(svalue)|0xFF id
//	                                                -> empty: composite entry for every prefix key
//	                                                   (type) present, times every other indexed key;
//	                                                   key order = "filter pkey = v, sort by skey"
//	'n' esc(pkey) enc(pvalue)                       -> uint64 BE: records with pkey = pvalue
//	't' token 0x00 id                               -> empty: full-text posting (tokens never hold 0x00)
//
// Secondary and composite entries hold the whole value of list-valued keys
// (ordered as a list), not one entry per element.

const (
	// schemaVersion changes whenever the layout or an encoding changes; an
	// index with another version is refused with ErrSchemaMismatch.
	schemaVersion = 2

	prefixMeta      = 0x00
	prefixCount     = 'c'
	prefixRecord    = 'r'
	prefixSecondary = 'x'
	prefixComposite = 'y'
	prefixCounter   = 'n'
	prefixText      = 't'

	currentFile      = "CURRENT"
	firstGeneration  = "g1"
	indexDirName     = "index"
	schemaKeySuffix  = "schema"
	feedSeqKeySuffix = "feedseq"
	textTokenEndByte = 0x00

	// watermarkKeySuffix names the watermark's meta key (watermark.go).
	watermarkKeySuffix = "watermark"
)

// compositePrefixKeys are the keys that lead a composite index and keep a
// per-value counter. "type" is the filter nearly every app query has.
var compositePrefixKeys = []string{KeyType}

func schemaKey() []byte { return append([]byte{prefixMeta}, schemaKeySuffix...) }

func countKey() []byte { return []byte{prefixCount} }

func watermarkKey() []byte { return append([]byte{prefixMeta}, watermarkKeySuffix...) }

func recordKey(id string) []byte {
	k := make([]byte, 0, 1+len(id))
	return append(append(k, prefixRecord), id...)
}

// secondaryPrefix is 'x' esc(key).
func secondaryPrefix(key string) []byte {
	return appendEscaped([]byte{prefixSecondary}, key)
}

// appendValueOrMissing appends enc(v), or the missing marker when !ok.
func appendValueOrMissing(dst []byte, v Value, ok bool) []byte {
	if !ok {
		return append(dst, tagMissing)
	}
	return AppendValue(dst, v)
}

// compositePrefix is 'y' esc(pkey) enc(pvalue) esc(skey).
func compositePrefix(pkey string, pv Value, skey string) []byte {
	b := appendEscaped([]byte{prefixComposite}, pkey)
	b = AppendValue(b, pv)
	return appendEscaped(b, skey)
}

// appendSecondaryKey appends 'x' esc(key) enc(v)|missing id, given the
// key's secondary prefix.
func appendSecondaryKey(dst, prefix []byte, v Value, ok bool, id string) []byte {
	return append(appendValueOrMissing(append(dst, prefix...), v, ok), id...)
}

// appendCompositeKey appends 'y' esc(pkey) enc(pvalue) esc(skey)
// enc(svalue)|missing id.
func appendCompositeKey(dst []byte, pkey string, pv Value, skey string, sv Value, ok bool, id string) []byte {
	dst = appendEscaped(append(dst, prefixComposite), pkey)
	dst = appendEscaped(AppendValue(dst, pv), skey)
	return append(appendValueOrMissing(dst, sv, ok), id...)
}

// appendTextKey appends 't' token 0x00 id.
func appendTextKey(dst []byte, token, id string) []byte {
	return append(append(append(append(dst, prefixText), token...), textTokenEndByte), id...)
}

func counterKey(pkey string, pv Value) []byte {
	b := appendEscaped([]byte{prefixCounter}, pkey)
	return AppendValue(b, pv)
}

func textPrefix(token string) []byte {
	k := make([]byte, 0, 1+len(token))
	return append(append(k, prefixText), token...)
}

// splitValueID splits the tail of an index key (after its prefix) into the
// encoded value (or missing marker) and the id.
func splitValueID(tail []byte) (val []byte, id []byte, err error) {
	n, err := skipValue(tail)
	if err != nil {
		return nil, nil, err
	}
	return tail[:n], tail[n:], nil
}

// textKeyID returns the id of a full-text posting key.
func textKeyID(k []byte) ([]byte, bool) {
	for i := 1; i < len(k); i++ {
		if k[i] == textTokenEndByte {
			return k[i+1:], true
		}
	}
	return nil, false
}
