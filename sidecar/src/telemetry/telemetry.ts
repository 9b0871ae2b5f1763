export { createTelemetry, type Telemetry } from '@reseal/core';
