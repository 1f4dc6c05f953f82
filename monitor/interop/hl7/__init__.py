"""HL7 v2: MLLP framing, message reading, conversion to events, ACKs and the listener."""
