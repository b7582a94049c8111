# Opens the configured buses that devices use, lazily: a bus with no device
# costs neither a UART nor a socket nor its library's heap.


def open_bus(name, bcfg):
    if bcfg['kind'] == 'tcp':
        from firmware.hw.mbtcp import TcpBus
        return TcpBus(name, bcfg)
    from firmware.hw.rtu import RtuBus
    return RtuBus(name, bcfg)
