package crypto

import (
	"bytes"
	"strings"
	"testing"
)

// TestDecodeArmorIgnoresBlanks checks that spaces, tabs and stray CRs
// inside data lines are dropped, whichever path a line takes.
func TestDecodeArmorIgnoresBlanks(t *testing.T) {
	data := bytes.Repeat([]byte("mailbridge armor \x00\xff"), 40)
	clean := string(armorBytes(armorMessage, data))
	lines := strings.Split(clean, "\r\n")
	for i := 2; i < len(lines)-3; i++ { // data lines only
		switch i % 4 {
		case 0:
			lines[i] = " " + lines[i][:10] + "\t" + lines[i][10:]
		case 1:
			lines[i] = lines[i][:5] + "\r" + lines[i][5:]
		}
	}
	for name, in := range map[string]string{"clean": clean, "blanks": strings.Join(lines, "\r\n")} {
		blk, err := decodeArmor([]byte(in), 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(blk.Data, data) || blk.Type != armorMessage || blk.End != len(in) {
			t.Errorf("%s: got type %q end %d data %q", name, blk.Type, blk.End, blk.Data)
		}
	}
}

func BenchmarkDecodeArmor(b *testing.B) {
	in := armorBytes(armorMessage, bytes.Repeat([]byte{0x5a, 0xa5, 0x3c}, 4000))
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := decodeArmor(in, 0); err != nil {
			b.Fatal(err)
		}
	}
}
