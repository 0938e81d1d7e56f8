#ifndef CS_COMMANDS_H
#define CS_COMMANDS_H
/* Entry points of the top-level subcommands, one file each (cmd_<name>.c). */
int cmd_hub(int argc, char **argv);
int cmd_device(int argc, char **argv);
int cmd_folder(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_account(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_wallet(int argc, char **argv);
int cmd_sigd(int argc, char **argv);
#endif
