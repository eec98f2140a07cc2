"""The draft's own test vectors (spec §0, §1.2 and the worked example of §4.10), byte for byte.

The request and the response are the hex dumps of §4.10 as printed; the HELLOs carry the
digests of the example nonces.
"""

CLIENT_NONCE = bytes.fromhex("A23F2BCA452DDE01")
SERVER_NONCE = bytes.fromhex("15F0D2278BCD457F")

# Spec §4.10, client -> server, as printed in the hex dump (205 bytes).
REQUEST = bytes.fromhex(
    "47 45 54 20 2f 64 65 6d 6f 20 48 54 54 50 2f 31"
    "2e 31 0d 0a 48 6f 73 74 3a 20 65 78 61 6d 70 6c"
    "65 2e 63 6f 6d 0d 0a 43 6f 6e 6e 65 63 74 69 6f"
    "6e 3a 20 55 70 67 72 61 64 65 0d 0a 53 65 63 2d"
    "57 65 62 53 6f 63 6b 65 74 2d 4e 6f 6e 63 65 3a"
    "20 41 32 33 46 32 42 43 41 34 35 32 44 44 45 30"
    "31 0d 0a 53 65 63 2d 57 65 62 53 6f 63 6b 65 74"
    "2d 50 72 6f 74 6f 63 6f 6c 3a 20 73 61 6d 70 6c"
    "65 0d 0a 55 70 67 72 61 64 65 3a 20 57 65 62 53"
    "6f 63 6b 65 74 0d 0a 4f 72 69 67 69 6e 3a 20 68"
    "74 74 70 3a 2f 2f 65 78 61 6d 70 6c 65 2e 63 6f"
    "6d 0d 0a 53 65 63 2d 57 65 62 53 6f 63 6b 65 74"
    "2d 44 72 61 66 74 3a 20 33 0d 0a 0d 0a"
)
# Spec §4.10, server -> client, the response headers (198 bytes).
RESPONSE = bytes.fromhex(
    "48 54 54 50 2f 31 2e 31 20 31 30 31 20 53 77 69"
    "74 63 68 69 6e 67 20 50 72 6f 74 6f 63 6f 6c 73"
    "0d 0a 55 70 67 72 61 64 65 3a 20 57 65 62 53 6f"
    "63 6b 65 74 0d 0a 43 6f 6e 6e 65 63 74 69 6f 6e"
    "3a 20 55 70 67 72 61 64 65 0d 0a 53 65 63 2d 57"
    "65 62 53 6f 63 6b 65 74 2d 4f 72 69 67 69 6e 3a"
    "20 68 74 74 70 3a 2f 2f 65 78 61 6d 70 6c 65 2e"
    "63 6f 6d 0d 0a 53 65 63 2d 57 65 62 53 6f 63 6b"
    "65 74 2d 4c 6f 63 61 74 69 6f 6e 3a 20 77 73 3a"
    "2f 2f 65 78 61 6d 70 6c 65 2e 63 6f 6d 2f 64 65"
    "6d 6f 0d 0a 53 65 63 2d 57 65 62 53 6f 63 6b 65"
    "74 2d 50 72 6f 74 6f 63 6f 6c 3a 20 73 61 6d 70"
    "6c 65 0d 0a 0d 0a"
)
SERVER_HELLO = bytes.fromhex(
    "8f 18 15 f0 d2 27 8b cd 45 7f ee 7e be 0c 36 9c bf 25 5a 44 51 fc 58 d7 cc 4f"
)
CLIENT_HELLO = bytes.fromhex("8f 10 33 12 20 35 d1 12 58 fd 7c 76 43 14 58 0e 53 9c")
