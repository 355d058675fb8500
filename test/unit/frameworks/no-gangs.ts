/**
 * The SDK's gang calls for test doubles of a framework that declares no gangs (services, jobs): a
 * call is a bug the test must fail on.
 */
export const noGangs = {
  acceptGang(gangId: string): void {
    throw new Error(`unexpected acceptGang("${gangId}"): this framework declares no gangs`);
  },
  launchGang(gang: { gangId: string }): void {
    throw new Error(`unexpected launchGang("${gang.gangId}"): this framework declares no gangs`);
  },
  declineGang(gangId: string): void {
    throw new Error(`unexpected declineGang("${gangId}"): this framework declares no gangs`);
  },
};
