import { describe, expect, it } from "vitest";
import { addressSearchForms } from "./address-forms.js";

describe("addressSearchForms", () => {
  it("Y5: an IDN address is searched in its ASCII and its Unicode form", () => {
    expect(addressSearchForms("kunde@xn--bcher-kva.example")).toEqual([
      "kunde@xn--bcher-kva.example",
      "kunde@bücher.example",
    ]);
    expect(addressSearchForms("ann@mail.xn--mller-kva.example")).toEqual([
      "ann@mail.xn--mller-kva.example",
      "ann@mail.müller.example",
    ]);
  });
  it("Y5: an ASCII address has one form", () => {
    expect(addressSearchForms("ann@client.example")).toEqual(["ann@client.example"]);
  });
});
