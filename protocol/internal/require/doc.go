// Package require is a tiny stand-in for testify's require, used by the protocol tests so
// they depend on nothing outside the standard library (testify v1.12 pulls a yaml module
// that go.sum does not list). Test code only.
package require
