package crypto

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// Armor block types (RFC 9580 §6.2).
const (
	armorMessage    = "PGP MESSAGE"
	armorSignature  = "PGP SIGNATURE"
	armorSigned     = "PGP SIGNED MESSAGE"
	armorPublicKey  = "PGP PUBLIC KEY BLOCK"
	armorPrivateKey = "PGP PRIVATE KEY BLOCK"
)

const armorLineLen = 64

var errTruncatedArmor = errors.New("truncated armor")

// armorBlock is one decoded armor block and where it sat in its input.
type armorBlock struct {
	Type       string
	Start, End int // byte offsets: BEGIN line start, just past the END line
	Data       []byte
}

// armorBytes encodes data as an armor block of the given type with CRLF
// line endings. It carries the CRC24 footer: RFC 9580 makes it optional,
// but GnuPG 2.2 cannot find the end of a block without it.
func armorBytes(blockType string, data []byte) []byte {
	var b bytes.Buffer
	writeArmor(&b, blockType, data)
	return b.Bytes()
}

// writeArmor appends the armor encoding of data to b. The base64 is encoded
// in one call and then cut into lines, which is much faster than a
// streaming encoder.
func writeArmor(b *bytes.Buffer, blockType string, data []byte) {
	enc := base64.StdEncoding
	n := enc.EncodedLen(len(data))
	b.Grow(n + n/armorLineLen*2 + 2*len(blockType) + 64)
	b.WriteString("-----BEGIN ")
	b.WriteString(blockType)
	b.WriteString("-----\r\n\r\n")
	encoded := make([]byte, n)
	enc.Encode(encoded, data)
	for len(encoded) > 0 {
		l := min(armorLineLen, len(encoded))
		b.Write(encoded[:l])
		b.WriteString("\r\n")
		encoded = encoded[l:]
	}
	crc := crc24(data)
	var sum [4]byte
	enc.Encode(sum[:], []byte{byte(crc >> 16), byte(crc >> 8), byte(crc)})
	b.WriteByte('=')
	b.Write(sum[:])
	b.WriteString("\r\n-----END ")
	b.WriteString(blockType)
	b.WriteString("-----\r\n")
}

// findArmorStart returns the offset of the first line in b that begins an
// armor block of blockType ("" for any type).
func findArmorStart(b []byte, blockType string) (int, bool) {
	marker := "-----BEGIN " + blockType
	if blockType != "" {
		marker += "-----"
	}
	off := 0
	for {
		i := bytes.Index(b[off:], []byte(marker))
		if i < 0 {
			return 0, false
		}
		i += off
		if i == 0 || b[i-1] == '\n' {
			return i, true
		}
		off = i + len(marker)
	}
}

// nextLine returns the line starting at off without its line ending, and
// the offset of the following line (len(b) at the end).
func nextLine(b []byte, off int) (line []byte, next int) {
	i := bytes.IndexByte(b[off:], '\n')
	if i < 0 {
		return trimRight(b[off:]), len(b)
	}
	return trimRight(b[off : off+i]), off + i + 1
}

func trimRight(l []byte) []byte {
	for len(l) > 0 && (l[len(l)-1] == '\r' || l[len(l)-1] == ' ' || l[len(l)-1] == '\t') {
		l = l[:len(l)-1]
	}
	return l
}

// decodeArmor decodes the armor block whose BEGIN line starts at start.
// Unlike go-crypto's armor.Decode, which reads line by line through a
// bufio.Reader, it gathers the base64 text and decodes it in one go. The
// CRC24 footer is ignored, as RFC 9580 §6.1 requires; integrity comes from
// the OpenPGP packets themselves.
func decodeArmor(b []byte, start int) (armorBlock, error) {
	begin, off := nextLine(b, start)
	typ, ok := bytes.CutPrefix(begin, []byte("-----BEGIN "))
	if !ok {
		return armorBlock{}, errors.New("no armor header line")
	}
	typ, ok = bytes.CutSuffix(typ, []byte("-----"))
	if !ok || len(typ) == 0 {
		return armorBlock{}, errors.New("malformed armor header line")
	}
	blk := armorBlock{Type: string(typ), Start: start}

	// Armor headers ("Key: Value") until a blank line. Base64 has no ':',
	// so a line without one is data from an encoder that left out the
	// blank line.
	for off < len(b) {
		line, next := nextLine(b, off)
		if len(line) == 0 {
			off = next
			break
		}
		if bytes.IndexByte(line, ':') < 0 {
			break
		}
		off = next
	}

	end := "-----END " + blk.Type + "-----"
	b64 := make([]byte, 0, len(b)-off)
	for off < len(b) {
		line, next := nextLine(b, off)
		off = next
		if bytes.HasPrefix(line, []byte("-----")) {
			if string(line) != end {
				return armorBlock{}, fmt.Errorf("armor: unexpected line %q", truncate(line, 40))
			}
			blk.End = off
			break
		}
		if len(line) == 5 && line[0] == '=' && line[1] != '=' {
			continue // CRC24 footer
		}
		b64 = appendBase64(b64, line)
	}
	if blk.End == 0 {
		return armorBlock{}, errTruncatedArmor
	}
	blk.Data = make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(blk.Data, b64)
	if err != nil {
		return armorBlock{}, fmt.Errorf("armor: %w", err)
	}
	blk.Data = blk.Data[:n]
	return blk, nil
}

// appendBase64 appends line to b64 without spaces, tabs and CRs. Lines
// nearly never hold any, and three vectorised searches and one copy cost
// far less than looking at each byte.
func appendBase64(b64, line []byte) []byte {
	if bytes.IndexByte(line, ' ') < 0 && bytes.IndexByte(line, '\t') < 0 && bytes.IndexByte(line, '\r') < 0 {
		return append(b64, line...)
	}
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' {
			b64 = append(b64, c)
		}
	}
	return b64
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// crc24Table drives a byte-at-a-time CRC24 (RFC 9580 §6.1); it is filled
// once and only read afterwards.
var crc24Table = func() (t [256]uint32) {
	const poly = 0x1864cfb
	for i := range t {
		c := uint32(i) << 16
		for range 8 {
			c <<= 1
			if c&0x1000000 != 0 {
				c ^= poly
			}
		}
		t[i] = c & 0xffffff
	}
	return t
}()

// crc24 computes the armor checksum of data.
func crc24(data []byte) uint32 {
	crc := uint32(0xb704ce)
	for _, c := range data {
		crc = (crc<<8 ^ crc24Table[byte(crc>>16)^c]) & 0xffffff
	}
	return crc
}
