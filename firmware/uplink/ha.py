# Home Assistant MQTT discovery (mqtt.ha_discovery, off by default): the
# retained config messages that make the site's main sensors, the grid and
# the generator appear in Home Assistant, all reading the telemetry topic.
# Loaded while the discovery messages go out after a connect, then unloaded.
#
# The generator is a switch only with mqtt.ha_commands: Home Assistant
# cannot sign commands, so that switch lets anyone who may publish to
# <prefix>/<site_id>/ha/gen/set start and stop the diesel. Without it the
# generator is a read-only binary sensor.
import json

# field, name, unit, device_class
SENSORS = (
    ('batt_soc', 'Battery SOC', '%', 'battery'),
    ('batt_v', 'Battery voltage', 'V', 'voltage'),
    ('batt_a', 'Battery current', 'A', 'current'),
    ('batt_w', 'Battery power', 'W', 'power'),
    ('pv_w', 'PV power', 'W', 'power'),
    ('load_w', 'Load power', 'W', 'power'),
    ('grid_w', 'Grid power', 'W', 'power'),
    ('gen_w', 'Generator power', 'W', 'power'),
    ('fuel_pct', 'Fuel level', '%', None),
    ('gen_ctl', 'Generator control state', None, None),
    ('mode', 'Generator mode', None, None),
)
_RUNNING = "{{ 'ON' if value_json.gen_ctl in ['cranking', 'warmup', 'running'] else 'OFF' }}"


def count():
    return len(SENSORS) + 2         # and the grid, and the generator


def message(i, base, site_id, hprefix, commands, version):
    """(topic, retained payload) of discovery message i (0 <= i < count())."""
    node = site_id.replace('.', '_')
    dev = {'identifiers': ['sc-' + site_id], 'name': site_id + ' power',
           'manufacturer': 'site controller', 'model': 'telecom power cabinet',
           'sw_version': version}
    c = {'device': dev, 'availability_topic': base + '/status',
         'payload_available': 'online', 'payload_not_available': 'offline',
         'state_topic': base + '/telemetry'}
    if i < len(SENSORS):
        field, name, unit, cls = SENSORS[i]
        c['name'] = name
        c['unique_id'] = node + '_' + field
        c['value_template'] = '{{ value_json.%s }}' % field
        if unit:
            c['unit_of_measurement'] = unit
            c['state_class'] = 'measurement'
        if cls:
            c['device_class'] = cls
        return '%s/sensor/%s/%s/config' % (hprefix, node, field), json.dumps(c)
    if i == len(SENSORS):
        c['name'] = 'Grid'
        c['unique_id'] = node + '_grid_ok'
        c['device_class'] = 'power'
        c['value_template'] = "{{ 'ON' if value_json.grid_ok else 'OFF' }}"
        return '%s/binary_sensor/%s/grid_ok/config' % (hprefix, node), json.dumps(c)
    c['name'] = 'Generator'
    c['unique_id'] = node + '_generator'
    c['value_template'] = _RUNNING
    if commands:
        c['command_topic'] = base + '/ha/gen/set'
        c['payload_on'] = 'ON'
        c['payload_off'] = 'OFF'
        c['state_on'] = 'ON'
        c['state_off'] = 'OFF'
        return '%s/switch/%s/generator/config' % (hprefix, node), json.dumps(c)
    c['device_class'] = 'running'
    return '%s/binary_sensor/%s/generator/config' % (hprefix, node), json.dumps(c)
