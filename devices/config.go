package devices

// Config is what the user sets about devices (the config file, flags).
type Config struct {
	// Names are host names the user gave devices, by MAC address in
	// lower-case aa:bb:cc:dd:ee:ff form: the most trusted name source.
	Names map[string]string
	// OUIFile is the IEEE registry (Debian's ieee-data oui.csv) to read
	// vendors from; "" means DefaultOUIFile. A missing file names no vendors.
	OUIFile string
}

// DefaultOUIFile is where Debian's ieee-data package puts the MA-L registry.
const DefaultOUIFile = "/usr/share/ieee-data/oui.csv"
