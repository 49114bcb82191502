// See scripts/discord-commands.
import { readFileSync } from "node:fs";

const FILE = "crates/edge-core/src/chat/discord/commands.json";
const commands = JSON.parse(readFileSync(FILE, "utf8"));
if (process.argv.includes("--dry-run")) {
  console.log(JSON.stringify(commands, null, 2));
  process.exit(0);
}
const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`discord-commands: set ${name}`);
    process.exit(2);
  }
  return v;
};
const app = need("DISCORD_APPLICATION_ID");
const token = need("DISCORD_BOT_TOKEN");
const api = (process.env.DISCORD_API_BASE_URL ?? "https://discord.com/api/v10").replace(/\/$/, "");
const guild = process.env.DISCORD_GUILD_ID;
const url = guild ? `${api}/applications/${app}/guilds/${guild}/commands` : `${api}/applications/${app}/commands`;
// The form Discord requires: `DiscordBot (<url>, <version>)` (the worker sends the same).
const version = /^version = "([^"]+)"/m.exec(readFileSync("Cargo.toml", "utf8"))?.[1] ?? "0";
const botUrl = process.env.DISCORD_BOT_URL ?? `https://discord.com/developers/applications/${app}`;
const userAgent = `DiscordBot (${botUrl}, ${version})`;
const r = await fetch(url, {
  method: "PUT",
  headers: { authorization: `Bot ${token}`, "content-type": "application/json", "user-agent": userAgent },
  body: JSON.stringify(commands),
  signal: AbortSignal.timeout(15_000),
});
if (!r.ok) {
  console.error(`discord-commands: ${r.status} ${await r.text()}`);
  process.exit(1);
}
console.log(`registered ${commands.length} ${guild ? `commands in guild ${guild}` : "global commands"}: ${commands.map((c) => `/${c.name}`).join(" ")}`);
