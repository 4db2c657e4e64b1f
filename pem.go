package appbackend

import "encoding/pem"

// nextPEM returns the DER bytes of the next CERTIFICATE block and what follows it.
func nextPEM(data []byte) (der, rest []byte) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, nil
		}
		if block.Type == "CERTIFICATE" {
			return block.Bytes, data
		}
	}
}
