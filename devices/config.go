package devices

import "fmt"

// Config is what the user sets about devices (the config file, flags) and
// the caps on the tracker's state. DefaultConfig gives the defaults.
type Config struct {
	// Names are host names the user gave devices, by MAC address in
	// lower-case aa:bb:cc:dd:ee:ff form: the most trusted name source.
	Names map[string]string
	// OUIFile is the IEEE registry (Debian's ieee-data oui.csv) to read
	// vendors from; "" reads none. A missing file names no vendors.
	OUIFile string

	// MaxDevices bounds the devices remembered; past it the least recently
	// seen is forgotten (counted).
	MaxDevices int
	// MaxAddrs bounds the addresses remembered per device; past it the
	// least recently seen is dropped (counted).
	MaxAddrs int
	// MaxNewPerWindow bounds the devices first seen between two Drains
	// (one window): past it a new device is not tracked (counted, its
	// packets still counted as traffic), so that a flood of spoofed
	// addresses neither evicts the known devices nor makes one window
	// carry a device per address to the store.
	MaxNewPerWindow int
	// MaxNewPerRouter bounds, likewise per window, the devices known by
	// their address alone that one router's MAC brings (hosts of a subnet
	// behind it).
	MaxNewPerRouter int
}

// DefaultOUIFile is where Debian's ieee-data package puts the MA-L registry.
const DefaultOUIFile = "/usr/share/ieee-data/oui.csv"

// DefaultConfig returns the settings netmon runs with: no names of the
// user's, Debian's registry, and the Default caps.
func DefaultConfig() Config {
	return Config{
		OUIFile:         DefaultOUIFile,
		MaxDevices:      DefaultMaxDevices,
		MaxAddrs:        DefaultMaxAddrs,
		MaxNewPerWindow: DefaultMaxNewPerWindow,
		MaxNewPerRouter: DefaultMaxNewPerRouter,
	}
}

// check reports a cap that admits nothing.
func (c Config) check() error {
	if c.MaxDevices <= 0 || c.MaxAddrs <= 0 || c.MaxNewPerWindow <= 0 || c.MaxNewPerRouter <= 0 {
		return fmt.Errorf("caps MaxDevices %d, MaxAddrs %d, MaxNewPerWindow %d, MaxNewPerRouter %d: want all positive",
			c.MaxDevices, c.MaxAddrs, c.MaxNewPerWindow, c.MaxNewPerRouter)
	}
	return nil
}
