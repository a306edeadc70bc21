// Package golden holds test helpers shared by the protocol packages: checked-in golden
// vectors (regenerated with -update) and deterministic randomness for them. Test code only.
package golden
