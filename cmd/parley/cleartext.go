package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
)

// finding is one string found in the clear in one file.
type finding struct {
	path   string
	needle string
}

// searchTree reads every regular file under root (a database, its -wal and
// -shm, anything else) and reports which of needles appear in which file.
// It returns how many files it read.
func searchTree(root string, needles []string) (files int, found []finding, err error) {
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, n := range needles {
			if bytes.Contains(data, []byte(n)) {
				found = append(found, finding{path: path, needle: n})
			}
		}
		return nil
	})
	return files, found, err
}
