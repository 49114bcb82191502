// Routing tables for tests: the three default regions (with their real coordinates) at
// endpoints of the test's choosing, and the seed countries' priority lists.
export const REGIONS = [
  { id: "us-east-1", name: "Virginia", lat: 39.0438, lon: -77.4874 },
  { id: "us-west-2", name: "Oregon", lat: 45.8399, lon: -119.7006 },
  { id: "eu-west-1", name: "Ireland", lat: 53.3498, lon: -6.2603 },
];

const EU = ["eu-west-1", "us-east-1"];
export const COUNTRIES = {
  US: ["us-east-1", "us-west-2"], CA: ["us-east-1", "us-west-2"], MX: ["us-east-1", "us-west-2"],
  GB: EU, DE: EU, FR: EU, ES: EU, IT: EU, NL: EU,
  JP: ["us-west-2", "eu-west-1"], AU: ["us-west-2", "us-east-1"], SG: ["eu-west-1", "us-west-2"],
};

/**
 * A ROUTING_TABLE var: `endpoints` maps region id → base URL (a string gives every region
 * the same endpoint).
 */
export function routingTable(endpoints) {
  const at = (id) => (typeof endpoints === "string" ? endpoints : endpoints[id]);
  return JSON.stringify({
    regions: REGIONS.map((r) => ({ ...r, endpoint: at(r.id) })),
    countries: COUNTRIES,
    default: ["us-east-1", "eu-west-1", "us-west-2"],
  });
}
