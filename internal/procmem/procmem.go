// Package procmem reads how much of a file this process has resident in
// its mappings, as Linux's /proc/self/smaps counts it: what tests of the
// cache's memory release look at.
package procmem

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// MappedKiB returns the KiB of the file at path resident in this
// process's mappings of it. It fails where there is no /proc/self/smaps.
func MappedKiB(path string) (int64, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var kib int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") {
			// A mapping's first line: address range, perms, offset,
			// device, inode and, for a file, its path.
			in = fields[len(fields)-1] == path
			continue
		}
		if in && len(fields) >= 2 && fields[0] == "Rss:" {
			n, _ := strconv.ParseInt(fields[1], 10, 64)
			kib += n
		}
	}
	return kib, sc.Err()
}
