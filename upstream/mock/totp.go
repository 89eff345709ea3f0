package mock

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP parameters, the defaults of RFC 6238 that every authenticator app
// understands: HMAC-SHA1, 30-second steps, 6 digits.
const (
	totpStep   = 30 * time.Second
	totpDigits = 6
	// totpSkew accepts a code of the previous or next step, for clocks a
	// little apart and codes typed at the end of their step.
	totpSkew = 1
)

// TOTPCode returns the RFC 6238 code for secret at time t, as an
// authenticator app holding secret would show it.
func TOTPCode(secret []byte, t time.Time) string {
	return hotp(secret, uint64(t.Unix())/uint64(totpStep/time.Second))
}

// hotp is RFC 4226's HOTP with dynamic truncation.
func hotp(secret []byte, counter uint64) string {
	mac := hmac.New(sha1.New, secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", totpDigits, v%1_000_000)
}

// checkTOTP reports whether code is valid for secret at now, allowing
// totpSkew steps either side.
func checkTOTP(secret []byte, code string, now time.Time) bool {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != totpDigits {
		return false
	}
	step := int64(now.Unix()) / int64(totpStep/time.Second)
	ok := 0
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		ok |= subtle.ConstantTimeCompare([]byte(hotp(secret, uint64(step+d))), []byte(code))
	}
	return ok == 1
}

// totpEncoding is how authenticator apps exchange secrets: base32 without
// padding.
var totpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// EncodeTOTPSecret returns secret as the base32 text authenticator apps
// accept.
func EncodeTOTPSecret(secret []byte) string { return totpEncoding.EncodeToString(secret) }

// DecodeTOTPSecret parses base32 text as EncodeTOTPSecret writes it,
// ignoring case, spaces and padding.
func DecodeTOTPSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.TrimRight(strings.ReplaceAll(s, " ", ""), "="))
	b, err := totpEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("mock: TOTP secret is not base32 text")
	}
	return b, nil
}

// TOTPURI returns the otpauth:// URI an authenticator app scans to add
// the secret for username.
func TOTPURI(username string, secret []byte) string {
	return "otpauth://totp/mailbridge-mock:" + url.PathEscape(username) +
		"?secret=" + EncodeTOTPSecret(secret) + "&issuer=mailbridge-mock"
}
