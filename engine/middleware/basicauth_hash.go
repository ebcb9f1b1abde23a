package middleware

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"

	"golang.org/x/crypto/bcrypt"
)

// The password hashes basicAuth accepts are those of Traefik's library
// (github.com/abbot/go-http-auth, as forked by Traefik: CheckSecret):
//
//   - "{SHA}" + base64(SHA-1(password)), htpasswd -s;
//   - bcrypt, "$2a$", "$2b$", "$2x$" and "$2y$" alike (htpasswd -B), through
//     golang.org/x/crypto/bcrypt as in Traefik;
//   - anything else is read as an MD5-crypt "$magic$salt$hash": "$apr1$"
//     (htpasswd -m, Apache's default) and "$1$" (crypt(3) MD5) both verify,
//     since the algorithm mixes the magic in; a hash without three '$'
//     never matches, so plain-text passwords ("user:secret") are refused,
//     as are crypt(3) DES, SHA-256 and SHA-512 hashes.

// bcryptPrefixes are the bcrypt variants checkSecret hands to bcrypt.
var bcryptPrefixes = []string{"$2a$", "$2b$", "$2x$", "$2y$"}

// checkSecret tells whether password matches the stored hash secret.
func checkSecret(password []byte, secret string) bool {
	if len(secret) >= 5 && secret[:5] == "{SHA}" {
		var sum [28]byte
		d := sha1.Sum(password)
		base64.StdEncoding.Encode(sum[:], d[:])
		return subtle.ConstantTimeCompare([]byte(secret[5:]), sum[:]) == 1
	}
	for _, p := range bcryptPrefixes {
		if len(secret) >= len(p) && secret[:len(p)] == p {
			return bcrypt.CompareHashAndPassword([]byte(secret), password) == nil
		}
	}
	return checkMD5Crypt(password, secret)
}

// checkMD5Crypt verifies an MD5-crypt hash "$magic$salt$hash" (the
// library's default comparison): the hash is computed again with the
// stored magic and salt and compared whole.
func checkMD5Crypt(password []byte, secret string) bool {
	parts := bytes.SplitN([]byte(secret), []byte("$"), 4)
	if len(parts) != 4 {
		return false
	}
	magic := make([]byte, 0, len(parts[1])+2)
	magic = append(append(append(magic, '$'), parts[1]...), '$')
	return subtle.ConstantTimeCompare([]byte(secret), md5Crypt(password, parts[2], magic)) == 1
}

// md5CryptAlphabet is crypt(3)'s base-64 alphabet.
const md5CryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// md5CryptOrder is the order in which the final digest's bytes are
// encoded, three at a time (the last one alone).
var md5CryptOrder = [16]byte{0, 6, 12, 1, 7, 13, 2, 8, 14, 3, 9, 15, 4, 10, 5, 11}

// md5Crypt is Poul-Henning Kamp's MD5-based crypt, which Apache's
// htpasswd uses with the magic "$apr1$" and crypt(3) with "$1$". It
// returns magic + salt + "$" + the encoded digest. The salt is used as
// given (htpasswd writes at most 8 characters).
func md5Crypt(password, salt, magic []byte) []byte {
	alt := md5.New()
	alt.Write(password)
	alt.Write(salt)
	alt.Write(password)
	altSum := alt.Sum(nil)

	d := md5.New()
	d.Write(password)
	d.Write(magic)
	d.Write(salt)
	for n := len(password); n > 0; n -= 16 {
		d.Write(altSum[:min(n, 16)])
	}
	for n := len(password); n > 0; n >>= 1 {
		if n&1 == 1 {
			d.Write([]byte{0})
		} else {
			d.Write(password[:1])
		}
	}
	sum := d.Sum(nil)

	// 1000 rounds to slow a brute force down.
	for i := range 1000 {
		r := md5.New()
		if i&1 == 1 {
			r.Write(password)
		} else {
			r.Write(sum)
		}
		if i%3 != 0 {
			r.Write(salt)
		}
		if i%7 != 0 {
			r.Write(password)
		}
		if i&1 == 1 {
			r.Write(sum)
		} else {
			r.Write(password)
		}
		sum = r.Sum(sum[:0])
	}

	out := make([]byte, 0, len(magic)+len(salt)+1+22)
	out = append(append(append(out, magic...), salt...), '$')
	for i := 0; i < 15; i += 3 {
		v := uint(sum[md5CryptOrder[i]])<<16 | uint(sum[md5CryptOrder[i+1]])<<8 | uint(sum[md5CryptOrder[i+2]])
		for range 4 {
			out = append(out, md5CryptAlphabet[v&0x3f])
			v >>= 6
		}
	}
	v := uint(sum[md5CryptOrder[15]])
	for range 2 {
		out = append(out, md5CryptAlphabet[v&0x3f])
		v >>= 6
	}
	return out
}
